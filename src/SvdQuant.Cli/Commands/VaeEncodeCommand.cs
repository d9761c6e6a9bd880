using System.Diagnostics;
using System.Threading;
using Spectre.Console;
using SvdQuant.Formats;
using SvdQuant.Models;

namespace SvdQuant.Cli.Commands;

/// <summary>
/// <c>svdquant vae encode</c>: vae.encode(image).latent_dist of <c>image</c> [B, 3, H, W] in [-1, 1] into
/// <c>mean</c> and <c>logvar</c> [B, C, H/8, W/8] (FLUX.1's downscale; no scaling, logvar clamped to
/// [-30, 20]). Bad input (a side that is not a multiple of the downscale, a missing key, a wrong dtype, a
/// folder without a VAE) is one line naming it, exit code 2, and no output file.
/// </summary>
internal sealed class VaeEncodeCommand : FileCommand<VaeEncodeSettings>
{
    protected override int Run(VaeEncodeSettings settings, CancellationToken cancellationToken)
    {
        CheckOutput(settings.Output, settings.Model, settings.Image);
        (float[] image, long[] shape) = VaeTensorFile.Read(settings.Image, "image", "[B, 3, H, W]");
        using var engine = new Engine(settings.NewEngineOptions());
        using AutoencoderKL vae = AutoencoderKL.Load(engine, settings.Model);
        long start = Stopwatch.GetTimestamp();
        (float[] mean, float[] logVar) = vae.Encode(engine, image, shape, settings.Options);
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;

        long[] latentShape = vae.EncodedShape(shape);
        using var writer = new SafeTensorsWriter();
        writer.AddTensor("mean", latentShape, mean);
        writer.AddTensor("logvar", latentShape, logVar);
        writer.Save(settings.Output);
        AnsiConsole.MarkupLineInterpolated(
            $"VAE encode: image {VaeDecodeCommand.Shape(shape)} -> mean and logvar {VaeDecodeCommand.Shape(latentShape)} in {seconds:0.00} s -> {settings.Output}");
        return 0;
    }
}
