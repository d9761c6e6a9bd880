using System;

namespace SvdQuant.Cli.Demo;

/// <summary>
/// A linear layer problem shaped like a diffusion transformer's: Gaussian weights with a few
/// larger columns, and Gaussian activations with about 1% outlier channels 20-50x larger,
/// the outliers that make naive 4-bit activation quantization fail.
/// </summary>
internal sealed class SyntheticLayer
{
    private SyntheticLayer(float[,] weight, float[] bias, float[,] activations, float[,] calibration)
    {
        Weight = weight;
        Bias = bias;
        Activations = activations;
        Calibration = calibration;
    }

    /// <summary>W [N, K].</summary>
    public float[,] Weight { get; }

    /// <summary>bias [N].</summary>
    public float[] Bias { get; }

    /// <summary>X [M, K], the input to evaluate on.</summary>
    public float[,] Activations { get; }

    /// <summary>Another draw [M, K] from the distribution of <see cref="Activations"/>, for calibration.</summary>
    public float[,] Calibration { get; }

    public static SyntheticLayer Create(int tokens, int inFeatures, int outFeatures, int seed)
    {
        var random = new GaussianRandom(seed);

        float[,] weight = random.NextMatrix(outFeatures, inFeatures, 1 / Math.Sqrt(inFeatures));
        int[] largeColumns = random.NextDistinct(Math.Max(1, inFeatures / 512), inFeatures);
        ScaleColumns(weight, largeColumns, random, 4, 8);

        var bias = new float[outFeatures];
        for (int n = 0; n < outFeatures; n++)
        {
            bias[n] = (float)random.Next(0, 0.1);
        }

        int[] outlierChannels = random.NextDistinct(Math.Max(1, inFeatures / 100), inFeatures);
        var channelScales = new double[outlierChannels.Length];
        for (int i = 0; i < channelScales.Length; i++)
        {
            channelScales[i] = random.NextUniform(20, 50);
        }

        float[,] activations = random.NextMatrix(tokens, inFeatures, 1);
        float[,] calibration = random.NextMatrix(tokens, inFeatures, 1);
        ScaleColumns(activations, outlierChannels, channelScales);
        ScaleColumns(calibration, outlierChannels, channelScales);
        return new SyntheticLayer(weight, bias, activations, calibration);
    }

    private static void ScaleColumns(float[,] matrix, int[] columns, GaussianRandom random, double min, double max)
    {
        var scales = new double[columns.Length];
        for (int i = 0; i < scales.Length; i++)
        {
            scales[i] = random.NextUniform(min, max);
        }

        ScaleColumns(matrix, columns, scales);
    }

    private static void ScaleColumns(float[,] matrix, int[] columns, double[] scales)
    {
        for (int r = 0; r < matrix.GetLength(0); r++)
        {
            for (int i = 0; i < columns.Length; i++)
            {
                matrix[r, columns[i]] = (float)(matrix[r, columns[i]] * scales[i]);
            }
        }
    }
}
