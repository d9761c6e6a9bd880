using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using Spectre.Console;
using SvdQuant.Generation;
using SvdQuant.Models;

namespace SvdQuant.Cli.Demo;

/// <summary>
/// The second half of <c>svdquant demo</c>: a synthetic FLUX.1-style model (8 heads of 128, one
/// double-stream and two single-stream blocks, FLUX.1-dev's guidance embedding) is written as a
/// diffusers folder and quantized with calibrated SVDQuant; then the same seed is sampled in
/// float, W4A16 and SVDQuant W4A4, and the table shows each one's latent PSNR against float and
/// its seconds per step against W4A16. The SVDQuant latents' RGB preview goes to a PNG.
/// </summary>
internal static class GenerationDemo
{
    private const int ImageSide = 256;
    private const int TextTokens = 64;
    private const string BaselineName = "W4A16";

    private static readonly SyntheticFluxConfig Model = new(Layers: 1, SingleLayers: 2, JointAttentionDim: 256, PooledProjectionDim: 256, GuidanceEmbeds: true, Heads: 8);

    public static void Run(Engine engine, int steps, int rank, ulong seed, string previewPath, CancellationToken cancellationToken)
    {
        AnsiConsole.MarkupLineInterpolated($"Synthetic FLUX model: width {Model.Width}, {Model.Layers} double + {Model.SingleLayers} single blocks; {ImageSide}x{ImageSide} image, {TextTokens} text tokens, {steps} Euler steps, seed {seed}");
        string folder = SyntheticFlux.Folder(Model);
        string svdquant = SyntheticFlux.SvdQuantFile(engine, Model, rank);
        FluxInputs text = SyntheticFlux.Inputs(Model, grid: 1, TextTokens);
        var inputs = new GenerationInputs(new TextConditioning(text.EncoderHiddenStates, TextTokens, text.PooledProjections));
        var options = new GenerationOptions { Width = ImageSide, Height = ImageSide, Steps = steps, Seed = seed };

        var rows = new List<(string Name, GenerationResult Result, long WeightBytes)>();
        foreach ((string name, string path, LinearScheme scheme) in new[]
        {
            ("float", folder, LinearScheme.Float),
            (BaselineName, folder, LinearScheme.W4A16),
            ($"SVDQuant W4A4 r{rank}", svdquant, LinearScheme.Float),
        })
        {
            using FluxTransformer model = FluxTransformer.Load(engine, path, new FluxLoadOptions { BlockScheme = scheme });
            using FluxGenerator generator = FluxGenerator.Create(model, options);
            generator.Generate(engine, inputs, cancellationToken: cancellationToken);  // warm-up: buffers grow once
            rows.Add((name, generator.Generate(engine, inputs, cancellationToken: cancellationToken), model.Info.WeightBytes));
        }

        float[] reference = rows[0].Result.Latents;
        double baseline = rows.Single(r => r.Name == BaselineName).Result.Seconds;
        var table = new Table()
            .AddColumn("Model")
            .AddColumn(new TableColumn("Latent PSNR vs float").RightAligned())
            .AddColumn(new TableColumn("s / step").RightAligned())
            .AddColumn(new TableColumn("vs W4A16").RightAligned())
            .AddColumn(new TableColumn("Weights MiB").RightAligned());
        foreach ((string name, GenerationResult result, long weightBytes) in rows)
        {
            double psnr = LatentPsnr.Of(result.Latents, reference);
            table.AddRow(
                name,
                double.IsPositiveInfinity(psnr) ? "reference" : psnr.ToString("0.0", CultureInfo.InvariantCulture) + " dB",
                (result.Seconds / result.Steps).ToString("0.000", CultureInfo.InvariantCulture),
                (baseline / result.Seconds).ToString("0.00", CultureInfo.InvariantCulture) + "x",
                (weightBytes / (1024.0 * 1024.0)).ToString("0.0", CultureInfo.InvariantCulture));
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("[grey]Latent PSNR: 20 log10(range of the float latents / RMSE), on the final packed latents.[/]");
        AnsiConsole.MarkupLine("[grey]Time: the second of two runs; vs W4A16 = W4A16 time / time. The models are cached in[/]");
        AnsiConsole.MarkupLineInterpolated($"[grey]{SyntheticFlux.CacheRoot}.[/]");

        GenerationResult quantized = rows[^1].Result;
        quantized.Preview(upscale: 8).SavePng(previewPath);
        AnsiConsole.MarkupLineInterpolated($"Preview of the SVDQuant latents ({ImageSide}x{ImageSide}, latent RGB projection): {previewPath}");
    }
}
