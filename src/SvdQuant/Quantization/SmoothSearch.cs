namespace SvdQuant.Quantization;

/// <summary>How the smoothing exponents (alpha, beta) are chosen.</summary>
public enum SmoothSearch
{
    /// <summary>Every 4th grid step, then a pattern search on the full grid around the best.</summary>
    CoarseToFine = 0,

    /// <summary>Every (alpha, beta) of the grid.</summary>
    Exhaustive = 1,

    /// <summary>The options' <see cref="QuantizerOptions.Alpha"/> and <see cref="QuantizerOptions.Beta"/>, no search.</summary>
    Fixed = 2,
}
