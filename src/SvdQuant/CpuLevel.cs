namespace SvdQuant;

/// <summary>The instruction set the CPU kernels use.</summary>
/// <remarks>
/// As an <see cref="EngineOptions.CpuLevel"/> a value caps the level (useful to compare
/// kernel paths on one machine); as <see cref="Engine.CpuLevel"/> it is the level in use.
/// </remarks>
public enum CpuLevel
{
    /// <summary>The best level the CPU supports (a request only, never reported as in use).</summary>
    Auto = 0,

    /// <summary>Portable scalar reference kernels.</summary>
    Scalar = 1,

    /// <summary>AVX2 kernels.</summary>
    Avx2 = 2,

    /// <summary>AVX-512 kernels with VNNI dot products.</summary>
    Avx512Vnni = 3,

    /// <summary>The AVX-512 VNNI kernels, and BF16 dot products for the W4A16 GEMM and attention.</summary>
    Avx512Bf16 = 4,
}
