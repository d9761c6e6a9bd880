using System;
using SvdQuant.Cli.Demo;

namespace SvdQuant.Tests;

/// <summary>
/// Biases that matter: Gaussian with the RMS of the product x W^T they are added to, so the bias
/// is about 0.7 of the output norm and a layer that drops it is off by about 0.7, far outside any band.
/// (SyntheticLayer's own bias is about 3% of its output: too small to catch a dropped bias.)
/// </summary>
internal static class TestBias
{
    public static float[] For(float[,] x, float[,] weight, GaussianRandom random)
    {
        float[,] product = ReferenceMath.Linear(x, weight);
        double sum = 0;
        foreach (float v in product)
        {
            sum += (double)v * v;
        }

        double rms = Math.Sqrt(sum / product.Length);
        var bias = new float[weight.GetLength(0)];
        for (int n = 0; n < bias.Length; n++)
        {
            bias[n] = (float)random.Next(0, rms);
        }

        return bias;
    }
}
