using System;

namespace SvdQuant.Cli.Demo;

/// <summary>
/// Peak signal-to-noise ratio of latents against a reference, in dB: 20 log10(range / RMSE), the
/// range being the reference's max - min (scikit-image's peak_signal_noise_ratio with data_range).
/// </summary>
internal static class LatentPsnr
{
    public static double Of(float[] actual, float[] reference)
    {
        if (actual.Length != reference.Length || reference.Length == 0)
        {
            throw new ArgumentException("The latents differ in size or are empty.", nameof(actual));
        }

        double squared = 0, min = double.PositiveInfinity, max = double.NegativeInfinity;
        for (int i = 0; i < reference.Length; i++)
        {
            double d = (double)actual[i] - reference[i];
            squared += d * d;
            min = Math.Min(min, reference[i]);
            max = Math.Max(max, reference[i]);
        }

        double rmse = Math.Sqrt(squared / reference.Length);
        return rmse == 0 ? double.PositiveInfinity : 20 * Math.Log10((max - min) / rmse);
    }
}
