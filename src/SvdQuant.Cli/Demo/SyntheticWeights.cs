using System;
using System.Threading.Tasks;

namespace SvdQuant.Cli.Demo;

/// <summary>
/// Seeded random weights for the synthetic models, in BF16 as FLUX.1 ships: the same bits for the
/// same seed on every run and platform (SplitMix64 with Box-Muller), so cached files stay valid.
/// </summary>
internal static class SyntheticWeights
{
    /// <summary>N(offset, std^2) values of a vector.</summary>
    public static byte[] Bf16Vector(int count, double std, double offset, int seed)
    {
        float[] values = Gaussian(count, std, seed);
        for (int i = 0; i < values.Length; i++)
        {
            values[i] += (float)offset;
        }

        return ToBf16(values);
    }

    /// <summary>
    /// A [rows, columns] matrix of N(0, 1 / columns) (columns: the fan-in), with about one column in
    /// 512 ten times larger when <paramref name="outliers"/> (the outliers smoothing and the low-rank
    /// branch exist for). Rows fill in parallel, each from its own stream.
    /// </summary>
    public static byte[] Bf16Matrix(int rows, int columns, bool outliers, int seed)
    {
        var outlier = new bool[columns];
        if (outliers)
        {
            var pick = new Random(seed);
            for (int i = 0; i < Math.Max(1, columns / 512); i++)
            {
                outlier[pick.Next(columns)] = true;
            }
        }

        double std = 1 / Math.Sqrt(columns);
        var bytes = new byte[checked(2L * rows * columns)];
        Parallel.For(0, rows, r =>
        {
            var random = new SplitMix(((long)seed << 32) ^ r);
            Span<byte> row = bytes.AsSpan(2 * r * columns, 2 * columns);
            for (int col = 0; col < columns; col++)
            {
                double value = random.NextGaussian() * std * (outlier[col] ? 10 : 1);
                ushort bits = Bf16((float)value);
                row[2 * col] = (byte)bits;
                row[(2 * col) + 1] = (byte)(bits >> 8);
            }
        });
        return bytes;
    }

    /// <summary>N(0, std^2) values.</summary>
    public static float[] Gaussian(int count, double std, int seed)
    {
        var random = new SplitMix(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = (float)(random.NextGaussian() * std);
        }

        return values;
    }

    /// <summary>string.GetHashCode is randomised per process; a cache needs the same tensor every time.</summary>
    public static int StableHash(string text)
    {
        uint hash = 2166136261;
        foreach (char ch in text)
        {
            hash = (hash ^ ch) * 16777619;
        }

        return (int)hash;
    }

    private static byte[] ToBf16(float[] values)
    {
        var bytes = new byte[2 * values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            ushort bits = Bf16(values[i]);
            bytes[2 * i] = (byte)bits;
            bytes[(2 * i) + 1] = (byte)(bits >> 8);
        }

        return bytes;
    }

    /// <summary>The BF16 bits of a finite value, rounded to nearest even on the 16 dropped bits.</summary>
    public static ushort Bf16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    /// <summary>SplitMix64 with Box-Muller: fast, seedable per row so rows fill in parallel.</summary>
    public struct SplitMix(long seed)
    {
        private ulong _state = (ulong)seed;
        private double? _spare;

        public double NextGaussian()
        {
            if (_spare is double spare)
            {
                _spare = null;
                return spare;
            }

            double radius = Math.Sqrt(-2 * Math.Log(1 - NextUniform()));
            double angle = 2 * Math.PI * NextUniform();
            _spare = radius * Math.Sin(angle);
            return radius * Math.Cos(angle);
        }

        /// <summary>A uniform deviate in [0, 1).</summary>
        public double NextUniform() => (NextBits() >> 11) * (1.0 / (1UL << 53));

        /// <summary>64 uniform random bits.</summary>
        public ulong NextBits()
        {
            ulong z = _state += 0x9E3779B97F4A7C15;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
            return z ^ (z >> 31);
        }
    }
}
