using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;
using NUnit.Framework;

namespace SvdQuant.Tests;

/// <summary>
/// Decodes the PNGs the engine writes (8-bit RGBA, not interlaced) by the PNG specification, written
/// here independently of the encoder: signature, IHDR, the IDAT zlib stream and the five row filters.
/// </summary>
internal static class PngReader
{
    private static readonly byte[] Signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Width, height and RGBA8 pixels of the PNG at <paramref name="path"/>; asserts its structure.</summary>
    public static (int Width, int Height, byte[] Rgba) Read(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        Assert.That(file.AsSpan(0, 8).ToArray(), Is.EqualTo(Signature), "PNG signature");
        Assert.That(System.Text.Encoding.ASCII.GetString(file, 12, 4), Is.EqualTo("IHDR"), "the first chunk is IHDR");
        int width = BinaryPrimitives.ReadInt32BigEndian(file.AsSpan(16)), height = BinaryPrimitives.ReadInt32BigEndian(file.AsSpan(20));
        Assert.That(file[24], Is.EqualTo(8), "bit depth");
        Assert.That(file[25], Is.EqualTo(6), "colour type RGBA");
        Assert.That(file[28], Is.EqualTo(0), "not interlaced");

        using var idat = new MemoryStream();
        bool ended = false;
        for (int at = 8; at < file.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(file.AsSpan(at));
            string type = System.Text.Encoding.ASCII.GetString(file, at + 4, 4);
            if (type == "IDAT")
            {
                idat.Write(file, at + 8, length);
            }

            ended = type == "IEND";
            at += 12 + length;  // length, type, data, CRC
        }

        Assert.That(ended, Is.True, "the file ends with IEND");
        idat.Position = 0;
        using var inflated = new MemoryStream();
        using (var zlib = new ZLibStream(idat, CompressionMode.Decompress))
        {
            zlib.CopyTo(inflated);
        }

        return (width, height, Unfilter(inflated.ToArray(), width, height));
    }

    private static byte[] Unfilter(byte[] data, int width, int height)
    {
        const int Bpp = 4;
        int stride = width * Bpp;
        Assert.That(data, Has.Length.EqualTo(height * (stride + 1)), "one filter byte and one row per scanline");
        var rgba = new byte[height * stride];
        for (int y = 0; y < height; y++)
        {
            byte filter = data[y * (stride + 1)];
            for (int x = 0; x < stride; x++)
            {
                int raw = data[y * (stride + 1) + 1 + x];
                int a = x >= Bpp ? rgba[y * stride + x - Bpp] : 0;
                int b = y > 0 ? rgba[(y - 1) * stride + x] : 0;
                int c = x >= Bpp && y > 0 ? rgba[(y - 1) * stride + x - Bpp] : 0;
                int predictor = filter switch
                {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => (a + b) / 2,
                    4 => Paeth(a, b, c),
                    _ => throw new AssertionException($"row {y} has filter type {filter}"),
                };
                rgba[y * stride + x] = (byte)(raw + predictor);
            }
        }

        return rgba;
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
}
