namespace SvdQuant.Models;

/// <summary>
/// The number format of a layer's values, and of a checkpoint's quantized layers. Each <see cref="LinearScheme"/> runs
/// in the formats it names; the engine refuses any other pairing (<see cref="StatusCode.Unsupported"/>).
/// </summary>
public enum NumberFormat
{
    /// <summary>32-bit float (a checkpoint: no 4-bit layers).</summary>
    Float = 0,

    /// <summary>Signed INT4, groups of 64 along K, one scale absmax / 7 per group.</summary>
    Int4 = 1,

    /// <summary>
    /// NVFP4: E2M1 values, groups of 16 along K, FP8 E4M3 group scales and an fp32 tensor scale
    /// (activations: one per token). Emulated through float on the CPU.
    /// </summary>
    Nvfp4 = 2,
}
