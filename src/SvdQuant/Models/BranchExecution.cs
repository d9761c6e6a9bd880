namespace SvdQuant.Models;

/// <summary>How a <see cref="LinearScheme.W4A4"/> layer runs its low-rank branch.</summary>
public enum BranchExecution
{
    /// <summary>
    /// Fused (the default): the down-projection rides on the activation quantizer's single
    /// read of X and the up-projection on the 4-bit GEMM's epilogue.
    /// </summary>
    Fused = 0,

    /// <summary>
    /// Separate passes over X and Y, as a plain implementation would run them; the same
    /// result, kept to measure what fusion saves.
    /// </summary>
    Unfused = 1,
}
