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

    /// <summary>A [rows, columns] transposed.</summary>
    public static float[,] Transpose(float[,] a)
    {
        var transposed = new float[a.GetLength(1), a.GetLength(0)];
        for (int r = 0; r < a.GetLength(0); r++)
        {
            for (int c = 0; c < a.GetLength(1); c++)
            {
                transposed[c, r] = a[r, c];
            }
        }

        return transposed;
    }

    /// <summary>
    /// An INT4 W4A4 layer from its definition (DESIGN section 3): with lambda = smooth (ones when null)
    /// and the branch up [N, r], down [r, K] (none when null),
    /// y = Q(x / lambda) Q(W lambda - up down)^T + x (down / lambda)^T up^T + bias, where Q is INT4 per
    /// 64-group (BF16 weight scales, fp32 activation scales) and the branch factors are held in BF16
    /// (down / lambda rounded after the division), as the engine stores them.
    /// </summary>
    public static float[,] W4A4(float[,] x, float[,] weight, float[]? bias, float[]? smooth = null, float[,]? up = null, float[,]? down = null)
    {
        int m = x.GetLength(0), k = x.GetLength(1), n = weight.GetLength(0), rank = up?.GetLength(1) ?? 0;
        var inverse = new float[k];
        for (int j = 0; j < k; j++)
        {
            inverse[j] = smooth is null ? 1f : 1f / smooth[j];
        }

        var smoothedX = new float[m, k];
        for (int r = 0; r < m; r++)
        {
            for (int j = 0; j < k; j++)
            {
                smoothedX[r, j] = x[r, j] * inverse[j];
            }
        }

        var residual = new float[n, k];
        for (int r = 0; r < n; r++)
        {
            for (int j = 0; j < k; j++)
            {
                double value = weight[r, j] * (smooth?[j] ?? 1f);
                for (int q = 0; q < rank; q++)
                {
                    value -= (double)up![r, q] * down![q, j];
                }

                residual[r, j] = (float)value;
            }
        }

        float[,] y = Linear(DequantizeInt4Activations(smoothedX), DequantizeInt4Weights(residual), bias);
        if (rank == 0)
        {
            return y;
        }

        var downReadingX = new float[k, rank];
        for (int q = 0; q < rank; q++)
        {
            for (int j = 0; j < k; j++)
            {
                downReadingX[j, q] = RoundToBf16(down![q, j] * inverse[j]);
            }
        }

        var upBf16 = new float[rank, n];
        for (int r = 0; r < n; r++)
        {
            for (int q = 0; q < rank; q++)
            {
                upBf16[q, r] = RoundToBf16(up![r, q]);
            }
        }

        float[,] branch = Multiply(Multiply(x, downReadingX), upBf16);
        for (int r = 0; r < m; r++)
        {
            for (int c = 0; c < n; c++)
            {
                y[r, c] += branch[r, c];
            }
        }

        return y;
    }

    /// <summary>
    /// W [N, K] as the engine's INT4 weights hold it (K a multiple of 64): per row per 64 columns,
    /// scale = absmax / 7 rounded to BF16, q = clamp(round-half-even(w * (7 / absmax)), -8, 7), value q * scale.
    /// </summary>
    public static float[,] DequantizeInt4Weights(float[,] weight) => Int4RoundTrip(weight, roundScaleToBf16: true);

    /// <summary>x as a W4A16 layer reads it at <paramref name="level"/>: rounded to BF16 at
    /// <see cref="CpuLevel.Avx512Bf16"/> (its BF16 dot products), as is below.</summary>
    public static float[,] W4A16Input(float[,] x, CpuLevel level)
    {
        if (level != CpuLevel.Avx512Bf16) return x;
        var rounded = new float[x.GetLength(0), x.GetLength(1)];
        for (int r = 0; r < x.GetLength(0); r++)
        {
            for (int c = 0; c < x.GetLength(1); c++) rounded[r, c] = RoundToBf16(x[r, c]);
        }
        return rounded;
    }

    /// <summary>
    /// X [M, K] as W4A4 quantizes activations: per token per 64 columns, the same levels as the
    /// weights but with the fp32 scale absmax / 7.
    /// </summary>
    public static float[,] DequantizeInt4Activations(float[,] x) => Int4RoundTrip(x, roundScaleToBf16: false);

    /// <summary>f rounded to the nearest BF16 value, ties to even.</summary>
    public static float RoundToBf16(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        bits += 0x7FFFu + ((bits >> 16) & 1u);
        return BitConverter.UInt32BitsToSingle(bits & 0xFFFF0000u);
    }

    private static float[,] Int4RoundTrip(float[,] matrix, bool roundScaleToBf16)
    {
        const int group = 64;
        int rows = matrix.GetLength(0), columns = matrix.GetLength(1);
        var result = new float[rows, columns];
        for (int r = 0; r < rows; r++)
        {
            for (int g = 0; g < columns; g += group)
            {
                float absmax = 0;
                for (int c = g; c < g + group; c++)
                {
                    absmax = Math.Max(absmax, Math.Abs(matrix[r, c]));
                }

                // Levels from 7 / absmax in float, as the definition (and every kernel) computes them.
                float inverse = absmax > 0 ? 7f / absmax : 0f;
                float scale = roundScaleToBf16 ? RoundToBf16(absmax / 7f) : absmax / 7f;
                for (int c = g; c < g + group; c++)
                {
                    float level = Math.Clamp(MathF.Round(matrix[r, c] * inverse, MidpointRounding.ToEven), -8f, 7f);
                    result[r, c] = level * scale;
                }
            }
        }

        return result;
    }
}
