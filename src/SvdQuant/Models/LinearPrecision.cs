namespace SvdQuant.Models;

/// <summary>The number formats of a linear layer's weights and activations.</summary>
public enum LinearPrecision
{
    /// <summary>32-bit float weights and activations: the reference.</summary>
    Float = 0,

    /// <summary>INT4 weights (groups of 64 along K), float activations.</summary>
    W4A16 = 1,

    /// <summary>
    /// INT4 weights and activations (groups of 64 along K). Without smoothing or a low-rank
    /// branch this is naive round-to-nearest; with both it is SVDQuant.
    /// </summary>
    W4A4 = 2,
}
