using System;
using CommunityToolkit.HighPerformance;
using SvdQuant.Native;

namespace SvdQuant.Quantization;

/// <summary>SmoothQuant-style per-channel factors that move activation outliers into the weights.</summary>
public static class Smoothing
{
    /// <summary>
    /// Computes lambda_j = max|X_j|^alpha / max|W_j|^beta for each input channel j.
    /// Pass the result as <see cref="Models.LinearLayerOptions.Smooth"/> and to <see cref="LowRank.Decompose"/>.
    /// </summary>
    /// <param name="engine">The engine to run on.</param>
    /// <param name="calibration">Calibration activations X [M, K].</param>
    /// <param name="weight">The layer's weight W [N, K].</param>
    /// <param name="alpha">Exponent of the activation maxima.</param>
    /// <param name="beta">Exponent of the weight maxima.</param>
    /// <returns>lambda [K], positive.</returns>
    /// <exception cref="SvdQuantException">The engine rejected the inputs, e.g. <see cref="StatusCode.ShapeMismatch"/>.</exception>
    public static unsafe float[] Compute(
        Engine engine, ReadOnlySpan2D<float> calibration, ReadOnlySpan2D<float> weight, float alpha = 0.5f, float beta = 0.5f)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        ReadOnlySpan<float> x = ContiguousRows.Of(calibration);
        ReadOnlySpan<float> w = ContiguousRows.Of(weight);
        var smooth = new float[weight.Width];
        fixed (float* xData = &Pin.Ref(x))
        fixed (float* wData = &Pin.Ref(w))
        fixed (float* smoothData = smooth)
        {
            using SvdqTensorHandle xTensor = NativeTensor.WrapF32(xData, x.Length, [calibration.Height, calibration.Width]);
            using SvdqTensorHandle wTensor = NativeTensor.WrapF32(wData, w.Length, [weight.Height, weight.Width]);
            using SvdqTensorHandle smoothTensor = NativeTensor.WrapF32(smoothData, smooth.Length, [smooth.Length]);
            using EngineCall call = engine.Enter();
            NativeStatus.Check(NativeMethods.svdq_smooth_compute(call.Context, xTensor, wTensor, alpha, beta, smoothTensor));
        }

        return smooth;
    }
}
