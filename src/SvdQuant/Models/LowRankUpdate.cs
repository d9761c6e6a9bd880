using System;

namespace SvdQuant.Models;

/// <summary>
/// An extra low-rank term on a <see cref="LinearLayer"/> (a LoRA): y += Scale * (x Down^T) Up^T, added
/// before the layer's activation, Down reading the layer's raw (unsmoothed) input.
/// </summary>
public sealed class LowRankUpdate
{
    /// <summary>Pairs the two factors with their scale.</summary>
    /// <param name="down">A, [r, K]; any r of at least 1.</param>
    /// <param name="up">B, [N, r].</param>
    /// <param name="scale">The factor of the term, e.g. strength * alpha / r.</param>
    /// <exception cref="ArgumentException">The factors disagree on the rank.</exception>
    public LowRankUpdate(float[,] down, float[,] up, float scale = 1f)
    {
        Down = down ?? throw new ArgumentNullException(nameof(down));
        Up = up ?? throw new ArgumentNullException(nameof(up));
        if (up.GetLength(1) != down.GetLength(0))
        {
            throw new ArgumentException(
                $"Up has {up.GetLength(1)} columns but Down has {down.GetLength(0)} rows; both are the rank.", nameof(up));
        }

        Scale = scale;
    }

    /// <summary>A, [r, K].</summary>
    public float[,] Down { get; }

    /// <summary>B, [N, r].</summary>
    public float[,] Up { get; }

    /// <summary>The term's factor.</summary>
    public float Scale { get; }

    /// <summary>r, the rows of <see cref="Down"/>.</summary>
    public int Rank => Down.GetLength(0);

    /// <summary>K, the columns of <see cref="Down"/>.</summary>
    public int InFeatures => Down.GetLength(1);

    /// <summary>N, the rows of <see cref="Up"/>.</summary>
    public int OutFeatures => Up.GetLength(0);
}
