using System;

namespace SvdQuant.Cli.Demo;

/// <summary>The quality measure of DESIGN section 8: ||actual - expected||_F / ||expected||_F.</summary>
internal static class RelativeError
{
    public static double Of(float[,] actual, float[,] expected)
    {
        if (actual.GetLength(0) != expected.GetLength(0) || actual.GetLength(1) != expected.GetLength(1))
        {
            throw new ArgumentException("The matrices differ in shape.", nameof(actual));
        }

        double difference = 0;
        double reference = 0;
        for (int r = 0; r < expected.GetLength(0); r++)
        {
            for (int c = 0; c < expected.GetLength(1); c++)
            {
                double d = (double)actual[r, c] - expected[r, c];
                difference += d * d;
                reference += (double)expected[r, c] * expected[r, c];
            }
        }

        return Math.Sqrt(difference / reference);
    }
}
