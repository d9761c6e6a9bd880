using System;

namespace SvdQuant.Cli.Demo;

/// <summary>Seeded normal deviates (Box-Muller), reproducible across runs.</summary>
internal sealed class GaussianRandom
{
    private readonly Random _uniform;
    private double? _spare;

    public GaussianRandom(int seed)
    {
        _uniform = new Random(seed);
    }

    /// <summary>A uniform deviate in [min, max).</summary>
    public double NextUniform(double min, double max) => min + ((max - min) * _uniform.NextDouble());

    /// <summary>A deviate of N(mean, stddev^2).</summary>
    public double Next(double mean = 0, double stddev = 1)
    {
        if (_spare is double spare)
        {
            _spare = null;
            return mean + (stddev * spare);
        }

        double radius = Math.Sqrt(-2 * Math.Log(1 - _uniform.NextDouble()));
        double angle = 2 * Math.PI * _uniform.NextDouble();
        _spare = radius * Math.Sin(angle);
        return mean + (stddev * radius * Math.Cos(angle));
    }

    /// <summary>A matrix of N(0, stddev^2) deviates.</summary>
    public float[,] NextMatrix(int rows, int columns, double stddev)
    {
        var matrix = new float[rows, columns];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
            {
                matrix[r, c] = (float)Next(0, stddev);
            }
        }

        return matrix;
    }

    /// <summary><paramref name="count"/> distinct indices below <paramref name="limit"/>.</summary>
    public int[] NextDistinct(int count, int limit)
    {
        var indices = new int[limit];
        for (int i = 0; i < limit; i++)
        {
            indices[i] = i;
        }

        // A partial Fisher-Yates shuffle.
        for (int i = 0; i < count; i++)
        {
            int j = _uniform.Next(i, limit);
            (indices[i], indices[j]) = (indices[j], indices[i]);
        }

        return indices.AsSpan(0, count).ToArray();
    }
}
