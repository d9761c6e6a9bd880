using System;
using System.Threading;
using CommunityToolkit.HighPerformance;
using Spectre.Console;
using Spectre.Console.Cli;
using SvdQuant.Formats;
using SvdQuant.Models;

namespace SvdQuant.Cli.Commands;

/// <summary>
/// <c>svdquant layer run</c>: a quantized layer applied to <c>x</c> [T,K], <c>y</c> [T,N] written as
/// F32. Bad input is one line naming the tensor, exit code 2, and no output file.
/// </summary>
internal sealed class LayerRunCommand : FileCommand<LayerRunSettings>
{
    protected override int Run(LayerRunSettings settings, CancellationToken cancellationToken)
    {
        CheckOutput(settings.Output, settings.Layer, settings.Input);
        using var engine = new Engine(settings.NewEngineOptions());
        using LinearLayer layer = LinearLayer.Load(engine, settings.Layer);
        using SafeTensorsFile input = SafeTensorsFile.Open(settings.Input);
        if (!input.TryGetTensor("x", out TensorInfo x))
        {
            throw new SvdQuantException(StatusCode.Format, $"{input.Path}: missing tensor 'x' [T, {layer.Info.InFeatures}]");
        }

        if (x.Shape.Count != 2 || x.Shape[1] != layer.Info.InFeatures || !x.IsFloat)
        {
            throw new SvdQuantException(
                StatusCode.ShapeMismatch,
                $"{input.Path}: tensor 'x' is {x.DType} [{string.Join(", ", x.Shape)}], expected a float [T, {layer.Info.InFeatures}]");
        }

        // x and y are each read or built as one managed array.
        foreach ((string name, long width) in new[] { ("x", (long)layer.Info.InFeatures), ("y", layer.Info.OutFeatures) })
        {
            if (x.Shape[0] > Array.MaxLength / Math.Max(width, 1))
            {
                throw new SvdQuantException(
                    StatusCode.ShapeMismatch,
                    $"{input.Path}: tensor 'x' has {x.Shape[0]:N0} rows, so '{name}' [{x.Shape[0]}, {width}] would hold more than the {Array.MaxLength:N0} values one array holds; split 'x' into smaller files");
            }
        }

        int tokens = (int)x.Shape[0];
        float[] values = input.ReadFloats("x");
        var y = new float[tokens * layer.Info.OutFeatures];
        layer.Forward(engine, new ReadOnlySpan2D<float>(values, tokens, layer.Info.InFeatures), new Span2D<float>(y, tokens, layer.Info.OutFeatures));

        using var writer = new SafeTensorsWriter();
        writer.AddTensor("y", [tokens, layer.Info.OutFeatures], y);
        writer.Save(settings.Output);
        AnsiConsole.MarkupLineInterpolated($"{settings.Output}: y [[{tokens}, {layer.Info.OutFeatures}]]");
        return 0;
    }
}
