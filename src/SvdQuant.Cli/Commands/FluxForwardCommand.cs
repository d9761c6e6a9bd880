using System;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using Spectre.Console;
using Spectre.Console.Cli;
using SvdQuant.Formats;
using SvdQuant.Models;

namespace SvdQuant.Cli.Commands;

/// <summary>
/// <c>svdquant flux forward</c>: one transformer forward from a safetensors file of inputs to a
/// safetensors file holding <c>output</c>. A missing or misshapen input is one line naming it,
/// exit code 2, and no output file.
/// </summary>
internal sealed class FluxForwardCommand : FileCommand<FluxForwardSettings>
{
    protected override int Run(FluxForwardSettings settings, CancellationToken cancellationToken)
    {
        RefuseToOverwriteInputs(settings.Output, settings.Model, settings.Inputs);
        using var engine = new Engine();
        using FluxTransformer model = FluxTransformer.Load(engine, settings.Model, new FluxLoadOptions { BlockPrecision = settings.Precision });
        using SafeTensorsFile file = SafeTensorsFile.Open(settings.Inputs);
        FluxInputs inputs = ReadInputs(file);
        long start = Stopwatch.GetTimestamp();
        float[] output = model.Forward(engine, inputs);
        TimeSpan elapsed = Stopwatch.GetElapsedTime(start);

        using var writer = new SafeTensorsWriter();
        writer.AddTensor("output", [inputs.Batch, inputs.ImageTokens, model.Info.OutputTokenWidth], output);
        writer.Save(settings.Output);
        AnsiConsole.MarkupLineInterpolated(
            $"FLUX ({model.Info.Layers} + {model.Info.SingleLayers} blocks, {model.Info.BlockPrecision}): B = {inputs.Batch}, {inputs.ImageTokens} image + {inputs.TextTokens} text tokens in {elapsed.TotalMilliseconds:0.0} ms -> {settings.Output}");
        return 0;
    }

    private static FluxInputs ReadInputs(SafeTensorsFile file)
    {
        TensorInfo hidden = Require(file, "hidden_states", 3);
        TensorInfo context = Require(file, "encoder_hidden_states", 3);
        return new FluxInputs
        {
            Batch = (int)hidden.Shape[0],
            ImageTokens = (int)hidden.Shape[1],
            TextTokens = (int)context.Shape[1],
            HiddenStates = file.ReadFloats(hidden.Name),
            EncoderHiddenStates = file.ReadFloats(context.Name),
            PooledProjections = file.ReadFloats(Require(file, "pooled_projections", 2).Name),
            Timestep = file.ReadFloats(Require(file, "timestep", 1).Name),
            Guidance = file.TryGetTensor("guidance", out TensorInfo guidance) ? file.ReadFloats(guidance.Name) : null,
            ImageIds = file.ReadFloats(Require(file, "img_ids", 2).Name),
            TextIds = file.ReadFloats(Require(file, "txt_ids", 2).Name),
        };
    }

    private static TensorInfo Require(SafeTensorsFile file, string name, int rank)
    {
        if (!file.TryGetTensor(name, out TensorInfo tensor))
        {
            throw new SvdQuantException(StatusCode.Format, $"{file.Path}: missing tensor '{name}'");
        }

        if (tensor.Shape.Count != rank || !tensor.IsFloat)
        {
            throw new SvdQuantException(
                StatusCode.ShapeMismatch,
                $"{file.Path}: tensor '{name}' must be a {rank}-D float tensor, got {tensor.DType} [{string.Join(", ", tensor.Shape.Select(d => d.ToString()))}]");
        }

        return tensor;
    }
}
