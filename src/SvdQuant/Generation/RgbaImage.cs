using System;
using System.IO;
using SvdQuant.Native;
using StbImageReader = StbImageSharp.ImageResult;
using StbReadComponents = StbImageSharp.ColorComponents;
using StbWriteComponents = StbImageWriteSharp.ColorComponents;

namespace SvdQuant.Generation;

/// <summary>
/// An 8-bit picture: RGBA8, row-major, top row first (ready for a game engine texture). What the
/// VAE's output becomes (<see cref="FromVaeImage"/>, as diffusers' VaeImageProcessor.postprocess), a
/// latent preview (<see cref="GenerationResult.Preview"/>), or a PNG read from disk
/// (<see cref="LoadPng"/>) as the input of image-to-image (<see cref="ToVaeImage"/>).
/// </summary>
public sealed class RgbaImage
{
    /// <summary>An image over <paramref name="rgba"/> (not copied).</summary>
    /// <exception cref="ArgumentException">A side is not positive, or <paramref name="rgba"/> is not width x height x 4 bytes.</exception>
    public RgbaImage(int width, int height, byte[] rgba)
    {
        Rgba = rgba ?? throw new ArgumentNullException(nameof(rgba));
        if (width < 1 || height < 1 || rgba.LongLength != 4L * width * height)
        {
            throw new ArgumentException($"a {width} x {height} RGBA8 image needs {4L * width * height} bytes, not {rgba.LongLength}", nameof(rgba));
        }

        Width = width;
        Height = height;
    }

    /// <summary>Pixels per row.</summary>
    public int Width { get; }

    /// <summary>Rows.</summary>
    public int Height { get; }

    /// <summary>Width x Height x 4 bytes: R, G, B, A per pixel.</summary>
    public byte[] Rgba { get; }

    /// <summary>
    /// Reads a PNG as RGBA8 (grey, RGB and palette images are expanded; a missing alpha is 255), through
    /// StbImageSharp.
    /// </summary>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.Io"/> when the file cannot be read;
    /// <see cref="StatusCode.Format"/> for a file that is not a PNG or is corrupt; both name the file.</exception>
    public static RgbaImage LoadPng(string path)
    {
        if (path is null)
        {
            throw new ArgumentNullException(nameof(path));
        }

        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SvdQuantException(StatusCode.Io, $"{path}: cannot be read ({e.Message})");
        }

        ReadOnlySpan<byte> signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
        if (!bytes.AsSpan().StartsWith(signature))
        {
            throw new SvdQuantException(StatusCode.Format, $"{path}: not a PNG file (no PNG signature)");
        }

        StbImageReader image;
        try
        {
            image = StbImageReader.FromMemory(bytes, StbReadComponents.RedGreenBlueAlpha);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new SvdQuantException(StatusCode.Format, $"{path}: corrupt PNG ({e.Message})");
        }

        if (image?.Data is null || image.Width < 1 || image.Height < 1 || image.Data.LongLength != 4L * image.Width * image.Height)
        {
            throw new SvdQuantException(StatusCode.Format, $"{path}: corrupt PNG (no RGBA8 pixels decoded)");
        }

        return new RgbaImage(image.Width, image.Height, image.Data);
    }

    /// <summary>
    /// The 8-bit picture of a VAE output [1, 3, height, width] (values about [-1, 1]):
    /// round(clamp(x / 2 + 0.5, 0, 1) * 255), ties to even, as diffusers' VaeImageProcessor.postprocess; alpha 255.
    /// </summary>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.ShapeMismatch"/> when <paramref name="image"/> is not
    /// 3 x height x width values; <see cref="StatusCode.NonFinite"/> for a NaN or infinity.</exception>
    public static unsafe RgbaImage FromVaeImage(float[] image, int width, int height)
    {
        if (image is null)
        {
            throw new ArgumentNullException(nameof(image));
        }

        if (width < 1 || height < 1 || image.LongLength != 3L * width * height)
        {
            throw new SvdQuantException(StatusCode.ShapeMismatch, $"the image has {image.LongLength} values, a [1, 3, {height}, {width}] image has {3L * width * height}");
        }

        NativeLibraryCheck.EnsureCompatible();
        var rgba = new byte[checked(4 * width * height)];
        fixed (float* values = image)
        fixed (byte* pixels = rgba)
        {
            using SvdqTensorHandle tensor = NativeTensor.WrapF32(values, image.Length, [1, 3, height, width]);
            NativeStatus.Check(NativeMethods.svdq_image_to_rgba8(tensor, pixels, (ulong)rgba.Length));
        }

        return new RgbaImage(width, height, rgba);
    }

    /// <summary>
    /// The VAE's input [1, 3, Height, Width] in [-1, 1] as diffusers' VaeImageProcessor.preprocess makes it:
    /// 2 * (byte / 255) - 1 per colour channel (alpha is dropped).
    /// </summary>
    public float[] ToVaeImage()
    {
        int pixels = Width * Height;
        var image = new float[3 * pixels];
        for (int c = 0; c < 3; c++)
        {
            for (int p = 0; p < pixels; p++)
            {
                image[c * pixels + p] = 2.0f * (Rgba[p * 4 + c] / 255.0f) - 1.0f;
            }
        }

        return image;
    }

    /// <summary>
    /// Writes the image as a PNG. The file is written under a temporary name beside
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
        new StbImageWriteSharp.ImageWriter().WritePng(Rgba, Width, Height, StbWriteComponents.RedGreenBlueAlpha, png);
        byte[] bytes = png.ToArray();
        fixed (byte* utf8 = NativeText.ToUtf8(path))
        fixed (byte* data = bytes)
        {
            NativeStatus.Check(NativeMethods.svdq_file_write(utf8, data, (ulong)bytes.Length));
        }
    }
}
