using SvdQuant.Native;

namespace SvdQuant.Generation;

/// <summary>
/// An inpainting mask image taken to the transformer's packed latents as FluxInpaintPipeline takes
/// it: grayscale as PIL's convert("L") computes it, binarized at one half (VaeImageProcessor with
/// do_binarize), resized to the latent grid by nearest neighbour (pixel (8 i, 8 j) for latent
/// (i, j), F.interpolate's default), repeated over the latent channels and packed 2 x 2.
/// </summary>
internal static class InpaintingMask
{
    /// <summary>The packed mask [1, S_img, 4 channels]: 1 repaints, 0 keeps. The mask has the image's size (<see cref="FluxPipelineInputs.Validate"/>).</summary>
    public static float[] ToPackedLatents(RgbaImage mask, int imageWidth, int imageHeight, int channels)
    {
        int height = imageHeight / 8, width = imageWidth / 8;
        var latents = new float[channels * height * width];
        for (int i = 0; i < height; ++i)
        {
            for (int j = 0; j < width; ++j)
            {
                int p = ((8 * i * imageWidth) + (8 * j)) * 4;
                // ITU-R 601-2 luma in PIL's fixed point.
                int luma = ((mask.Rgba[p] * 19595) + (mask.Rgba[p + 1] * 38470) + (mask.Rgba[p + 2] * 7471) + 0x8000) >> 16;
                float repaint = luma / 255f < 0.5f ? 0f : 1f;
                for (int c = 0; c < channels; ++c)
                {
                    latents[(((c * height) + i) * width) + j] = repaint;
                }
            }
        }

        return FluxLatents.Pack(latents, channels, height, width);
    }
}
