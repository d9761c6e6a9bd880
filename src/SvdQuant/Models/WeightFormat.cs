namespace SvdQuant.Models;

/// <summary>The number format of a 4-bit layer's weights (and, for W4A4, its activations).</summary>
public enum WeightFormat
{
    /// <summary>Signed INT4, groups of 64 along K, one scale absmax / 7 per group.</summary>
    Int4 = 0,

    /// <summary>
    /// NVFP4: E2M1 values, groups of 16 along K, FP8 E4M3 group scales and an fp32 tensor scale
    /// (activations: one per token). Emulated through float on the CPU.
    /// </summary>
    Nvfp4 = 1,
}
