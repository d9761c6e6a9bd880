using System;
using SvdQuant.Native;

namespace SvdQuant.Generation;

/// <summary>What one run of <see cref="FluxGenerator.Generate"/> made: the final latents and the run's counts.</summary>
public sealed class GenerationResult
{
    internal GenerationResult(
        float[] latents, int latentChannels, int latentHeight, int latentWidth, int steps, int evaluations, int cachedEvaluations,
        bool guidanceIgnored, double seconds)
    {
        Latents = latents;
        LatentChannels = latentChannels;
        LatentHeight = latentHeight;
        LatentWidth = latentWidth;
        Steps = steps;
        Evaluations = evaluations;
        CachedEvaluations = cachedEvaluations;
        GuidanceIgnored = guidanceIgnored;
        Seconds = seconds;
    }

    /// <summary>
    /// The final packed latents [1, S_img, 4C] before unpacking (token (r, c) = r * W/2 + c holds
    /// feature ch * 4 + dy * 2 + dx of latent[ch, 2r + dy, 2c + dx]), in the transformer's space:
    /// what the VAE decodes after FluxPipeline's latents / scaling_factor + shift_factor.
    /// </summary>
    public float[] Latents { get; }

    /// <summary>C of the [C, H/8, W/8] latent image (in_channels / 4; 16 for FLUX.1).</summary>
    public int LatentChannels { get; }

    /// <summary>H/8 of the image actually made (its height rounded down to a multiple of 16).</summary>
    public int LatentHeight { get; }

    /// <summary>W/8.</summary>
    public int LatentWidth { get; }

    /// <summary>Steps run (fewer than the options' steps at a strength below 1).</summary>
    public int Steps { get; }

    /// <summary>Transformer forwards (two per step with true CFG; Heun's extra ones).</summary>
    public int Evaluations { get; }

    /// <summary>Of <see cref="Evaluations"/>, those the first-block cache cut short.</summary>
    public int CachedEvaluations { get; }

    /// <summary>The model has no guidance embedding (FLUX.1-schnell style), so <see cref="GenerationOptions.Guidance"/> was not used.</summary>
    public bool GuidanceIgnored { get; }

    /// <summary>Seconds the run took.</summary>
    public double Seconds { get; }

    /// <summary>
    /// An RGBA8 preview of <see cref="Latents"/> without the VAE, as ComfyUI's Latent2RGB previewer draws it:
    /// 16 channels (FLUX.1) through ComfyUI's published latent-to-RGB factors and bias; other channel counts
    /// (small test models) show channels 0, 1, 2 as red, green, blue, each stretched by its own finite
    /// minimum and maximum. The VAE's picture is <see cref="Models.AutoencoderKL.DecodeToImage"/>.
    /// </summary>
    /// <param name="upscale">Pixels per latent pixel along each side, 1 to 8; 8 gives the image's own size.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="upscale"/> is outside [1, 8].</exception>
    public unsafe RgbaImage Preview(int upscale = 1)
    {
        if (upscale is < 1 or > 8)
        {
            throw new ArgumentOutOfRangeException(nameof(upscale), upscale, "the preview upscale must be 1 to 8");
        }

        NativeLibraryCheck.EnsureCompatible();
        int width = checked(LatentWidth * upscale), height = checked(LatentHeight * upscale);
        var rgba = new byte[checked(width * height * 4)];
        fixed (float* values = Latents)
        fixed (byte* pixels = rgba)
        {
            using SvdqTensorHandle tensor = NativeTensor.WrapF32(values, Latents.Length, PackedShape);
            NativeStatus.Check(NativeMethods.svdq_flux_latents_preview(tensor, LatentHeight, LatentWidth, upscale, pixels, (ulong)rgba.Length));
        }

        return new RgbaImage(width, height, rgba);
    }

    /// <summary>The shape of <see cref="Latents"/>: [1, S_img, 4C].</summary>
    internal long[] PackedShape => [1, Latents.Length / Math.Max(1, 4 * LatentChannels), 4 * LatentChannels];
}
