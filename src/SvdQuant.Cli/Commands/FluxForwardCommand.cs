using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using Spectre.Console;
using Spectre.Console.Cli;
using SvdQuant.Formats;
using SvdQuant.Models;
using SvdQuant.Quantization;

namespace SvdQuant.Cli.Commands;

/// <summary>
/// <c>svdquant flux forward</c>: one transformer forward from a safetensors file of inputs to a
/// safetensors file holding <c>output</c>, optionally with LoRAs. A missing or misshapen input (a
/// LoRA too) is one line naming it, exit code 2, and no output file.
/// </summary>
internal sealed class FluxForwardCommand : FileCommand<FluxForwardSettings>
{
    protected override int Run(FluxForwardSettings settings, CancellationToken cancellationToken)
    {
        IReadOnlyList<LoraMerge> loras = LoraArguments.Parse(settings.Loras);
        CheckOutput(settings.Output, [settings.Model, settings.Inputs, .. loras.Select(l => l.Path)]);
        using var engine = new Engine(settings.NewEngineOptions());
        using FluxTransformer model = FluxTransformer.Load(engine, settings.Model, new FluxLoadOptions
        {
            BlockScheme = settings.Scheme,
            AttentionPrecision = settings.Attention,
        });
        LoraArguments.AddTo(engine, model, loras);
        using SafeTensorsFile file = SafeTensorsFile.Open(settings.Inputs);
        FluxInputs inputs = FluxInputs.Read(file);  // stored shapes: the engine checks each against the model
        long start = Stopwatch.GetTimestamp();
        float[] output = model.Forward(engine, inputs);
        TimeSpan elapsed = Stopwatch.GetElapsedTime(start);

        using var writer = new SafeTensorsWriter();
        writer.AddTensor("output", [inputs.Batch, inputs.ImageTokens, model.Info.OutputTokenWidth], output);
        writer.Save(settings.Output);
        AnsiConsole.MarkupLineInterpolated(
            $"FLUX ({model.Info.Layers} + {model.Info.SingleLayers} blocks, {model.Info.BlockScheme}, {model.Info.AttentionPrecision} attention): B = {inputs.Batch}, {inputs.ImageTokens} image + {inputs.TextTokens} text tokens in {elapsed.TotalMilliseconds:0.0} ms{LoraArguments.Summary(model)} -> {settings.Output}");
        return 0;
    }
}
