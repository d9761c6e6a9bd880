using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading;
using Spectre.Console;
using Spectre.Console.Cli;
using SvdQuant.Models;
using SvdQuant.Quantization;

namespace SvdQuant.Cli.Commands;

/// <summary>
/// <c>svdquant quantize</c>: a float FLUX model to a Nunchaku-style SVDQuant checkpoint, with a
/// progress bar over its layers, optionally with LoRAs merged into the float weights first. A bad
/// model, calibration file, LoRA or option is one line naming it, exit code 2, and no output file.
/// </summary>
internal sealed class QuantizeCommand : FileCommand<QuantizeSettings>
{
    protected override int Run(QuantizeSettings settings, CancellationToken cancellationToken)
    {
        QuantizerOptions? options = QuantizationArguments.Parse(settings.Method, settings.Format, settings.Rank, out string error);
        if (options is null)
        {
            return Fail(error);
        }

        foreach (LoraMerge lora in LoraArguments.Parse(settings.Loras))
        {
            options.Loras.Add(lora);
        }

        CheckOutput(settings.Output, [settings.Model, settings.Calib, .. options.Loras.Select(l => l.Path)]);
        try
        {
            // While merging, the engine warns of LoRA keys that match nothing and of alphas that default to the rank.
            EngineOptions engineOptions = settings.NewEngineOptions();
            if (options.Loras.Count > 0)
            {
                engineOptions.Log = (_, message) => LoraArguments.Warn(message);
            }

            using var engine = new Engine(engineOptions);
            float worst = 0;
            string worstLayer = string.Empty;
            long start = Stopwatch.GetTimestamp();
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(progress =>
                {
                    ProgressTask task = progress.AddTask("calibrating", maxValue: 1);
                    var report = new Reporter(step =>
                    {
                        task.MaxValue = step.Total;
                        task.Value = step.Done;
                        task.Description = Markup.Escape(step.CalibrationError is float e ? $"{step.Layer} ({e:0.0000})" : step.Layer);
                        if (step.CalibrationError > worst)
                        {
                            worst = step.CalibrationError.Value;
                            worstLayer = step.Layer;
                        }
                    });
                    Quantizer.QuantizeFlux(engine, settings.Model, settings.Output, options, settings.Calib, report, cancellationToken);
                });
            string merged = options.Loras.Count == 0 ? ""
                : $", with {string.Join(", ", options.Loras.Select(l => $"{l.Path} x {l.Strength.ToString(CultureInfo.InvariantCulture)}"))} merged";
            AnsiConsole.MarkupLineInterpolated(
                $"{settings.Output}: {options.Method} {options.Format}{(QuantizationArguments.HasBranch(options.Method) ? $", rank {options.Rank}" : "")}, calibrated on {(settings.Calib ?? "synthetic inputs")}{merged} in {Stopwatch.GetElapsedTime(start).TotalSeconds:0.0} s; largest layer error {worst:0.0000} ({worstLayer})");
            return 0;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("svdquant: cancelled; no file written");
            return 130;
        }
    }

    // Reports on the quantizing thread itself (Progress<T> would post to the thread pool).
    private sealed class Reporter(Action<FluxQuantizeProgress> report) : IProgress<FluxQuantizeProgress>
    {
        public void Report(FluxQuantizeProgress value) => report(value);
    }
}
