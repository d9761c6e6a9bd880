using System;

namespace SvdQuant.Quantization;

/// <summary>
/// A rank-r factorisation Up Down of a (smoothed) weight W [N, K] that a W4A4 layer keeps
/// in float, so that only the residual W - Up Down is quantized.
/// </summary>
public sealed class LowRankBranch
{
    /// <summary>Pairs the two factors.</summary>
    /// <param name="up">L1 = U S, [N, r].</param>
    /// <param name="down">L2 = V^T, [r, K].</param>
    /// <exception cref="ArgumentException">The factors disagree on the rank.</exception>
    public LowRankBranch(float[,] up, float[,] down)
    {
        Up = up ?? throw new ArgumentNullException(nameof(up));
        Down = down ?? throw new ArgumentNullException(nameof(down));
        if (up.GetLength(1) != down.GetLength(0))
        {
            throw new ArgumentException(
                $"Up has {up.GetLength(1)} columns but Down has {down.GetLength(0)} rows; both are the rank.", nameof(down));
        }
    }

    /// <summary>L1 = U S, [N, r].</summary>
    public float[,] Up { get; }

    /// <summary>L2 = V^T, [r, K].</summary>
    public float[,] Down { get; }

    /// <summary>r, the number of columns of <see cref="Up"/> and rows of <see cref="Down"/>.</summary>
    public int Rank => Up.GetLength(1);

    /// <summary>N, the number of rows of <see cref="Up"/>.</summary>
    public int OutFeatures => Up.GetLength(0);

    /// <summary>K, the number of columns of <see cref="Down"/>.</summary>
    public int InFeatures => Down.GetLength(1);
}
