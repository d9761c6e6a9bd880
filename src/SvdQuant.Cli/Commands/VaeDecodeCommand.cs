using System.Diagnostics;
using System.Threading;
using Spectre.Console;
using SvdQuant.Formats;
using SvdQuant.Models;

namespace SvdQuant.Cli.Commands;

/// <summary>
/// <c>svdquant vae decode</c>: vae.decode of <c>latents</c> [B, C, h, w] (no scaling) into <c>image</c>
/// [B, 3, 8h, 8w] (FLUX.1's downscale). Bad input (channels that are not the VAE's, a missing key, a
/// wrong dtype, a folder without a VAE) is one line naming it, exit code 2, and no output file.
/// </summary>
internal sealed class VaeDecodeCommand : FileCommand<VaeDecodeSettings>
{
    protected override int Run(VaeDecodeSettings settings, CancellationToken cancellationToken)
    {
        CheckOutput(settings.Output, settings.Model, settings.Latents);
        (float[] latents, long[] shape) = VaeTensorFile.Read(settings.Latents, "latents", "[B, C, h, w]");
        using var engine = new Engine(settings.NewEngineOptions());
        using AutoencoderKL vae = AutoencoderKL.Load(engine, settings.Model);
        long start = Stopwatch.GetTimestamp();
        float[] image = vae.Decode(engine, latents, shape, settings.Options);
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;

        long[] imageShape = vae.DecodedShape(shape);
        using var writer = new SafeTensorsWriter();
        writer.AddTensor("image", imageShape, image);
        writer.Save(settings.Output);
        AnsiConsole.MarkupLineInterpolated(
            $"VAE decode: latents {Shape(shape)} -> image {Shape(imageShape)} in {seconds:0.00} s -> {settings.Output}");
        return 0;
    }

    internal static string Shape(long[] shape) => $"[{string.Join(", ", shape)}]";
}
