using System;

namespace SvdQuant.Generation;

/// <summary>One finished step of <see cref="FluxGenerator.Generate"/>, reported on the generating thread.</summary>
public readonly struct GenerationProgress
{
    internal GenerationProgress(int step, int total, float sigma, double elapsedSeconds)
    {
        Step = step;
        Total = total;
        Sigma = sigma;
        ElapsedSeconds = elapsedSeconds;
    }

    /// <summary>The step just done, 1-based.</summary>
    public int Step { get; }

    /// <summary>Steps in the run.</summary>
    public int Total { get; }

    /// <summary>The sigma the step arrived at (0 after the last).</summary>
    public float Sigma { get; }

    /// <summary>Seconds since the run started.</summary>
    public double ElapsedSeconds { get; }

    /// <summary>Mean seconds per step so far.</summary>
    public double SecondsPerStep => Step > 0 ? ElapsedSeconds / Step : 0;

    /// <summary>The time the remaining steps take at <see cref="SecondsPerStep"/>.</summary>
    public TimeSpan Remaining => TimeSpan.FromSeconds(SecondsPerStep * Math.Max(0, Total - Step));
}
