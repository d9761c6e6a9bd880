using System;
using SvdQuant.Generation;

namespace SvdQuant.Samples.Threading;

/// <summary>Pixels in the order a game engine's texture upload wants them.</summary>
public static class TexturePixels
{
    /// <summary>
    /// The image's RGBA8 bytes with the bottom row first, as Unity's Texture2D.LoadRawTextureData
    /// (and OpenGL) expect them; <see cref="RgbaImage"/> stores the top row first.
    /// </summary>
    public static byte[] BottomRowFirst(RgbaImage image)
    {
        if (image is null)
        {
            throw new ArgumentNullException(nameof(image));
        }

        int stride = image.Width * 4;
        var flipped = new byte[image.Rgba.Length];
        for (int row = 0; row < image.Height; row++)
        {
            Buffer.BlockCopy(image.Rgba, row * stride, flipped, (image.Height - 1 - row) * stride, stride);
        }

        return flipped;
    }
}
