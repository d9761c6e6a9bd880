using SvdQuant.Native;

namespace SvdQuant.Generation;

/// <summary>The FLUX latent layout's conversions the pipeline needs, done by the engine.</summary>
internal static class FluxLatents
{
    /// <summary>A latent image [1, C, h, w] packed into transformer tokens [1, (h / 2) (w / 2), 4C] as diffusers' _pack_latents.</summary>
    public static unsafe float[] Pack(float[] latents, int channels, int height, int width)
    {
        var packed = new float[latents.Length];
        fixed (float* input = latents)
        fixed (float* output = packed)
        {
            using SvdqTensorHandle inputTensor = NativeTensor.WrapF32(input, latents.Length, [1, channels, height, width]);
            using SvdqTensorHandle outputTensor = NativeTensor.WrapF32(output, packed.Length, [1, (height / 2) * (width / 2), 4 * channels]);
            NativeStatus.Check(NativeMethods.svdq_flux_latents_pack(inputTensor, outputTensor));
        }

        return packed;
    }
}
