namespace SvdQuant.Models;

/// <summary>How a <see cref="FluxTransformer"/>'s attention rounds its inputs.</summary>
public enum AttentionPrecision
{
    /// <summary>
    /// <see cref="Bf16"/> when the transformer-block linears are 4-bit (W4A4, W4A16), whose own
    /// error dwarfs BF16's; <see cref="Fp32"/> for float blocks. The default.
    /// </summary>
    Auto = 0,

    /// <summary>q, k, v, the softmax and every sum in fp32 (the CUDA backend stages q, k and v in BF16 regardless).</summary>
    Fp32 = 1,

    /// <summary>
    /// q, k, v and the softmax probabilities rounded to BF16 for BF16 dot products, as GPU engines
    /// run FLUX; the softmax and every sum stay fp32. Faster where the CPU has AVX512_BF16
    /// (<see cref="CpuLevel.Avx512Bf16"/>); other CPU levels compute in fp32.
    /// </summary>
    Bf16 = 2,
}
