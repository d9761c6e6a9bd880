namespace SvdQuant.Quantization;

/// <summary>What <see cref="Quantizer"/> builds: SVDQuant and the baselines of its ablation.</summary>
public enum QuantizationMethod
{
    /// <summary>Naive round-to-nearest W4A4: no smoothing, no low-rank branch.</summary>
    Rtn = 0,

    /// <summary>W4A4 with grid-searched smoothing, no branch.</summary>
    SmoothQuant = 1,

    /// <summary>W4A4 with the low-rank branch, no smoothing.</summary>
    LowRank = 2,

    /// <summary>W4A4 with grid-searched smoothing and the low-rank branch.</summary>
    SvdQuant = 3,

    /// <summary>4-bit weights, float activations.</summary>
    W4A16 = 4,
}
