using SvdQuant.Quantization;

namespace SvdQuant.Models;

/// <summary>Optional parts of a <see cref="LinearLayer"/>.</summary>
public sealed class LinearLayerOptions
{
    /// <summary>Applied to the output after the bias. Default: <see cref="Models.Activation.None"/>.</summary>
    public Activation Activation { get; set; } = Activation.None;

    /// <summary>
    /// Smoothing factors lambda [K] for <see cref="LinearScheme.W4A4"/>: activations are
    /// divided and weights multiplied by them before quantization. See <see cref="Smoothing.Compute"/>.
    /// </summary>
    public float[]? Smooth { get; set; }

    /// <summary>
    /// A low-rank factorisation of the smoothed weight kept in float for <see cref="LinearScheme.W4A4"/>;
    /// only the residual is quantized. See <see cref="Quantization.LowRank.Decompose"/>.
    /// </summary>
    public LowRankBranch? LowRank { get; set; }

    /// <summary>How the low-rank branch runs. Default: <see cref="BranchExecution.Fused"/>.</summary>
    public BranchExecution BranchExecution { get; set; } = BranchExecution.Fused;

    /// <summary>
    /// The 4-bit format of <see cref="LinearScheme.W4A16"/> and <see cref="LinearScheme.W4A4"/> layers.
    /// Default (null): the scheme's first format, <see cref="NumberFormat.Float"/> for float layers and
    /// <see cref="NumberFormat.Int4"/> (K a multiple of 64) for 4-bit ones; <see cref="NumberFormat.Nvfp4"/> (W4A4 only)
    /// needs K a multiple of 16.
    /// </summary>
    public NumberFormat? Format { get; set; }
}
