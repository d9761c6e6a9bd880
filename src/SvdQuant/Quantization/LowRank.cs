using System;
using CommunityToolkit.HighPerformance;
using SvdQuant.Native;

namespace SvdQuant.Quantization;

/// <summary>Truncated SVD of a weight, the low-rank branch of SVDQuant.</summary>
public static class LowRank
{
    /// <summary>The rank SVDQuant uses by default.</summary>
    public const int DefaultRank = 32;

    /// <summary>Factorises W diag(smooth) ≈ Up Down with a rank-<paramref name="rank"/> truncated SVD.</summary>
    /// <param name="engine">The engine to run on.</param>
    /// <param name="weight">W [N, K].</param>
    /// <param name="smooth">lambda [K] from <see cref="Smoothing.Compute"/>, or empty to factorise W itself.</param>
    /// <param name="rank">r, at least 1.</param>
    /// <returns>Up = U S [N, r] and Down = V^T [r, K].</returns>
    /// <exception cref="SvdQuantException">The engine rejected the inputs, e.g. a rank above min(N, K).</exception>
    public static unsafe LowRankBranch Decompose(
        Engine engine, ReadOnlySpan2D<float> weight, ReadOnlySpan<float> smooth = default, int rank = DefaultRank)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        if (rank < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(rank), rank, "The rank must be at least 1.");
        }

        ReadOnlySpan<float> w = ContiguousRows.Of(weight);
        var up = new float[weight.Height, rank];
        var down = new float[rank, weight.Width];
        fixed (float* wData = &Pin.Ref(w))
        fixed (float* smoothData = &Pin.Ref(smooth))
        fixed (float* upData = up)
        fixed (float* downData = down)
        {
            using SvdqTensorHandle wTensor = NativeTensor.WrapF32(wData, w.Length, [weight.Height, weight.Width]);
            using SvdqTensorHandle? smoothTensor = smooth.IsEmpty ? null
                : NativeTensor.WrapF32(smoothData, smooth.Length, [smooth.Length]);
            using SvdqTensorHandle upTensor = NativeTensor.WrapF32(upData, up.Length, [weight.Height, rank]);
            using SvdqTensorHandle downTensor = NativeTensor.WrapF32(downData, down.Length, [rank, weight.Width]);
            using EngineCall call = engine.Enter();
            NativeStatus.Check(NativeMethods.svdq_lowrank_decompose(
                call.Context, wTensor, smoothTensor.OrNone(), rank, upTensor, downTensor));
        }

        return new LowRankBranch(up, down);
    }
}
