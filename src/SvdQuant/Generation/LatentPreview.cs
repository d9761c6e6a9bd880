using System;
using System.IO;
using StbImageWriteSharp;
using SvdQuant.Native;

namespace SvdQuant.Generation;

/// <summary>
/// An RGB picture of latents without the VAE, as ComfyUI's Latent2RGB previewer draws it:
/// 16 channels (FLUX.1) through ComfyUI's published latent-to-RGB factors and bias; other
/// channel counts (small test models) show channels 0, 1, 2 as red, green, blue, each stretched
/// by its own finite minimum and maximum. RGBA8, row-major, top row first, alpha 255: ready
/// for a game engine texture.
/// </summary>
public sealed class LatentPreview
{
    private LatentPreview(int width, int height, byte[] rgba)
    {
        Width = width;
        Height = height;
        Rgba = rgba;
    }

    /// <summary>Pixels per row: the latent width times the upscale.</summary>
    public int Width { get; }

    /// <summary>Rows.</summary>
    public int Height { get; }

    /// <summary>Width x Height x 4 bytes: R, G, B, A per pixel.</summary>
    public byte[] Rgba { get; }

    /// <summary>
    /// Writes the preview as a PNG. The file is written under a temporary name beside
    /// <paramref name="path"/> and renamed into place, so a failure never leaves a partial PNG;
    /// a symlink, directory or device at <paramref name="path"/> is refused, as for every file the engine writes.
    /// </summary>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.Io"/> naming the file when it cannot be written.</exception>
    public unsafe void SavePng(string path)
    {
        if (path is null)
        {
            throw new ArgumentNullException(nameof(path));
        }

        NativeLibraryCheck.EnsureCompatible();
        using var png = new MemoryStream();
        new ImageWriter().WritePng(Rgba, Width, Height, ColorComponents.RedGreenBlueAlpha, png);
        byte[] bytes = png.ToArray();
        fixed (byte* utf8 = NativeText.ToUtf8(path))
        fixed (byte* data = bytes)
        {
            NativeStatus.Check(NativeMethods.svdq_file_write(utf8, data, (ulong)bytes.Length));
        }
    }

    /// <summary>The preview of packed latents [1, S_img, 4C] of a latentHeight x latentWidth latent image.</summary>
    internal static unsafe LatentPreview FromPackedLatents(float[] latents, int channels, int latentHeight, int latentWidth, int upscale)
    {
        if (upscale is < 1 or > 8)
        {
            throw new ArgumentOutOfRangeException(nameof(upscale), upscale, "the preview upscale must be 1 to 8");
        }

        NativeLibraryCheck.EnsureCompatible();
        int width = checked(latentWidth * upscale), height = checked(latentHeight * upscale);
        var rgba = new byte[checked(width * height * 4)];
        fixed (float* values = latents)
        fixed (byte* pixels = rgba)
        {
            using SvdqTensorHandle tensor = NativeTensor.WrapF32(values, latents.Length, [1, latents.Length / Math.Max(1, 4 * channels), 4 * channels]);
            NativeStatus.Check(NativeMethods.svdq_flux_latents_preview(tensor, latentHeight, latentWidth, upscale, pixels, (ulong)rgba.Length));
        }

        return new LatentPreview(width, height, rgba);
    }
}
