namespace SvdQuant.Models;

/// <summary>How a linear layer computes: which of its operands are 4-bit (their <see cref="NumberFormat"/> says how).</summary>
public enum LinearScheme
{
    /// <summary>32-bit float weights and activations: the reference. Format <see cref="NumberFormat.Float"/>.</summary>
    Float = 0,

    /// <summary>4-bit weights (groups of 64 along K, AWQ-style), float activations. Format <see cref="NumberFormat.Int4"/>.</summary>
    W4A16 = 1,

    /// <summary>
    /// 4-bit weights and activations, <see cref="NumberFormat.Int4"/> or <see cref="NumberFormat.Nvfp4"/>. Without
    /// smoothing or a low-rank branch this is naive round-to-nearest; with both it is SVDQuant.
    /// </summary>
    W4A4 = 2,
}
