using System;

namespace SvdQuant.Tests;

/// <summary>The float math every layer is judged against, accumulated in double.</summary>
internal static class ReferenceMath
{
    /// <summary>act(x W^T + bias) for x [M, K], W [N, K].</summary>
    public static float[,] Linear(float[,] x, float[,] weight, float[]? bias = null, bool gelu = false)
    {
        int m = x.GetLength(0), k = x.GetLength(1), n = weight.GetLength(0);
        var y = new float[m, n];
        for (int r = 0; r < m; r++)
        {
            for (int c = 0; c < n; c++)
            {
                double sum = bias?[c] ?? 0;
                for (int j = 0; j < k; j++)
                {
                    sum += (double)x[r, j] * weight[c, j];
                }

                y[r, c] = (float)(gelu ? GeluTanh(sum) : sum);
            }
        }

        return y;
    }

    /// <summary>GELU, tanh approximation.</summary>
    public static double GeluTanh(double v) =>
        0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + (0.044715 * v * v * v))));

    /// <summary>A [rows, inner] times B [inner, columns].</summary>
    public static float[,] Multiply(float[,] a, float[,] b)
    {
        int rows = a.GetLength(0), inner = a.GetLength(1), columns = b.GetLength(1);
        var product = new float[rows, columns];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
            {
                double sum = 0;
                for (int i = 0; i < inner; i++)
                {
                    sum += (double)a[r, i] * b[i, c];
                }

                product[r, c] = (float)sum;
            }
        }

        return product;
    }

    /// <summary>W with column j multiplied by scale[j].</summary>
    public static float[,] ScaleColumns(float[,] w, float[] scale)
    {
        var scaled = (float[,])w.Clone();
        for (int r = 0; r < w.GetLength(0); r++)
        {
            for (int c = 0; c < w.GetLength(1); c++)
            {
                scaled[r, c] *= scale[c];
            }
        }

        return scaled;
    }
}
