using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading;
using Spectre.Console;
using Spectre.Console.Cli;
using SvdQuant.Cli.Demo;
using SvdQuant.Formats;
using SvdQuant.Models;
using SvdQuant.Quantization;

namespace SvdQuant.Cli.Commands;

/// <summary>
/// <c>svdquant demo</c>: quantizes one FLUX-shaped synthetic layer every way the engine can and
/// prints each method's output error against float and its speed; then samples a small synthetic
/// FLUX model in float, W4A16 and SVDQuant W4A4 (<see cref="GenerationDemo"/>).
/// </summary>
internal sealed class DemoCommand : Command<DemoSettings>
{
    /// <summary>K = N of FLUX.1's attention projections.</summary>
    public const int Features = 3072;

    private const int TimedCalls = 5;

    private const string BaselineName = "W4A16";

    public override int Execute(CommandContext context, DemoSettings settings, CancellationToken cancellationToken)
    {
        if (settings.WritePipeline is not null)
        {
            return WritePipeline(settings.WritePipeline);
        }

        EngineOptions engineOptions = settings.NewEngineOptions();
        engineOptions.Threads = settings.Threads;
        Engine engine;
        try
        {
            OutputFile.EnsureWritable(settings.Output);
            engine = new Engine(engineOptions);
        }
        catch (SvdQuantException e) when (e.Status is not (StatusCode.OutOfMemory or StatusCode.Internal))
        {
            // An output that cannot be written, or a backend or device that cannot run here, is bad
            // input, as in the file commands (exit code 2), and fails before the demo's work.
            Console.Error.WriteLine($"svdquant: {e.Message}");
            return 2;
        }

        using (engine)
        {
            return Run(engine, settings, cancellationToken);
        }
    }

    private static int Run(Engine engine, DemoSettings settings, CancellationToken cancellationToken)
    {
        string device = engine.Backend == Backend.Cpu ? string.Empty : $", {engine.Device}";
        AnsiConsole.MarkupLineInterpolated($"[bold]SvdQuant engine {Engine.Version}[/]: {engine.ThreadCount} threads, CPU level {engine.CpuLevel}{device}");
        AnsiConsole.MarkupLineInterpolated($"Synthetic FLUX layer: M = {settings.Tokens} tokens, K = N = {Features}, seed {settings.Seed}");

        SyntheticLayer data = SyntheticLayer.Create(settings.Tokens, Features, Features, settings.Seed);
        float[] smooth = Smoothing.Compute(engine, data.Calibration, data.Weight, alpha: 0.5f, beta: 0.5f);
        var fixedSvdQuant = new LinearLayerOptions { Smooth = smooth, LowRank = LowRank.Decompose(engine, data.Weight, smooth, settings.Rank) };

        float[,]? reference = null;
        var timedOutput = new float[settings.Tokens, Features];
        var rows = new List<DemoRow>();
        void Measure(string name, LinearLayer layer, QuantizationReport? report)
        {
            float[,] output = layer.Forward(engine, data.Activations);
            reference ??= output;
            double milliseconds = MedianMilliseconds(() => layer.Forward(engine, data.Activations, timedOutput));
            rows.Add(new DemoRow(name, RelativeError.Of(output, reference), milliseconds, layer.Info.WeightBytes, report));
        }

        foreach ((string name, LinearScheme precision, LinearLayerOptions? options) in new (string, LinearScheme, LinearLayerOptions?)[]
        {
            ("float", LinearScheme.Float, null),
            (BaselineName, LinearScheme.W4A16, null),
            ($"SVDQuant r{settings.Rank} a=b=0.5", LinearScheme.W4A4, fixedSvdQuant),
        })
        {
            using LinearLayer layer = LinearLayer.Create(engine, precision, data.Weight, data.Bias, options);
            Measure(name, layer, null);
        }

        // The quantizer calibrates on the layer's own activations: every method in both formats.
        foreach (NumberFormat format in new[] { NumberFormat.Int4, NumberFormat.Nvfp4 })
        {
            foreach (QuantizationMethod method in Enum.GetValues<QuantizationMethod>())
            {
                if (method == QuantizationMethod.W4A16 && format == NumberFormat.Nvfp4)
                {
                    continue;  // W4A16 holds INT4 weights only (AWQ's form)
                }

                var quantizerOptions = new QuantizerOptions { Method = method, Format = format, Rank = settings.Rank };
                using QuantizedLayers quantized = Quantizer.Quantize(engine, data.Calibration, data.Weight, data.Bias, quantizerOptions);
                Measure($"{format} {method}", quantized.Layers[0], quantized.Report);
            }
        }

        double baselineMilliseconds = rows.Single(r => r.Name == BaselineName).Milliseconds;
        var table = new Table()
            .AddColumn("Method")
            .AddColumn(new TableColumn("Rel. error").RightAligned())
            .AddColumn(new TableColumn("ms / call").RightAligned())
            .AddColumn(new TableColumn("vs W4A16").RightAligned())
            .AddColumn(new TableColumn("Weights MiB").RightAligned())
            .AddColumn(new TableColumn("a/b").RightAligned())
            .AddColumn(new TableColumn("Quantize s").RightAligned());
        foreach (DemoRow row in rows)
        {
            QuantizationReport? q = row.Report;
            table.AddRow(
                row.Name,
                row.Error.ToString("0.0000", CultureInfo.InvariantCulture),
                row.Milliseconds.ToString("0.00", CultureInfo.InvariantCulture),
                (baselineMilliseconds / row.Milliseconds).ToString("0.00", CultureInfo.InvariantCulture) + "x",
                (row.WeightBytes / (1024.0 * 1024.0)).ToString("0.0", CultureInfo.InvariantCulture),
                q is null || q.Candidates == 0 ? "" : string.Create(CultureInfo.InvariantCulture, $"{q.Alpha:0.00}/{q.Beta:0.00}"),
                q is null ? "" : string.Create(
                    CultureInfo.InvariantCulture,
                    $"{q.Search.TotalSeconds:0.00}+{q.Svd.TotalSeconds:0.00}+{q.Packing.TotalSeconds:0.00}"));
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("[grey]Rel. error: ||Y - Y_float||_F / ||Y_float||_F.[/]");
        AnsiConsole.MarkupLine($"[grey]Time: median of {TimedCalls} calls after a warm-up; vs W4A16 = W4A16 time / time.[/]");
        AnsiConsole.MarkupLine("[grey]Int4/Nvfp4 rows: the quantizer, calibrated on the layer's activations; a/b: the searched smoothing exponents;[/]");
        AnsiConsole.MarkupLine("[grey]Quantize s: search + SVD + packing. Nvfp4 runs as float emulation on the CPU.[/]");
        AnsiConsole.WriteLine();

        GenerationDemo.Run(engine, settings.Steps, settings.Rank, (ulong)settings.Seed, settings.Output, cancellationToken);
        return 0;
    }

    private sealed record DemoRow(string Name, double Error, double Milliseconds, long WeightBytes, QuantizationReport? Report);

    private static int WritePipeline(string folder)
    {
        try
        {
            SyntheticPipeline.Write(SyntheticPipelineConfig.Tiny, folder);
        }
        catch (SvdQuantException e)
        {
            Console.Error.WriteLine($"svdquant: {e.Message}");
            return 2;
        }

        AnsiConsole.MarkupLineInterpolated($"Wrote a synthetic FLUX.1-schnell-style pipeline (random weights) to {folder}. Try:");
        AnsiConsole.WriteLine($"  svdquant generate --model {folder} --prompt \"a cat\" --width 256 --height 256 --output cat.png");
        return 0;
    }

    private static double MedianMilliseconds(Action call)
    {
        call();
        var times = new double[TimedCalls];
        for (int i = 0; i < TimedCalls; i++)
        {
            long start = Stopwatch.GetTimestamp();
            call();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        return times.OrderBy(t => t).ElementAt(TimedCalls / 2);
    }
}
