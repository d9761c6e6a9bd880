using System;
using System.IO;
using SvdQuant.Cli.Demo;

namespace SvdQuant.Tests;

/// <summary>
/// The tiny VAE of the managed tests: diffusers' AutoencoderKL layout with 2 levels (downscale 2), 8 and 16
/// channels, 4 groups, 4 latent channels, quant convs, mid-block attention, sample_size 32.
/// </summary>
internal static class TinyVae
{
    public static readonly SyntheticVaeConfig Config = new([8, 16], LayersPerBlock: 1, Groups: 4, LatentChannels: 4, QuantConvs: true, SampleSize: 32);

    /// <summary>A fresh folder of <see cref="Config"/> with seeded random weights in <paramref name="parent"/>.</summary>
    public static string Write(string parent, string name = "vae", int seed = 7)
    {
        string folder = Path.Combine(parent, name);
        SyntheticVae.Write(folder, Config, seed);
        return folder;
    }

    /// <summary>Seeded U(-1, 1) values.</summary>
    public static float[] Uniform(int count, int seed)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)(2 * random.NextDouble() - 1);
        }

        return values;
    }
}
