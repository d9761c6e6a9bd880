namespace SvdQuant.Generation;

/// <summary>One <see cref="FluxPipeline"/> run's inputs besides its options.</summary>
public sealed class FluxPipelineInputs
{
    /// <summary>Inputs for <paramref name="prompt"/>.</summary>
    public FluxPipelineInputs(FluxPrompt prompt) => Prompt = prompt ?? throw new System.ArgumentNullException(nameof(prompt));

    /// <summary>The prompt.</summary>
    public FluxPrompt Prompt { get; }

    /// <summary>The negative prompt, for true classifier-free guidance (<see cref="GenerationOptions.TrueCfgScale"/> above 1).</summary>
    public FluxPrompt? NegativePrompt { get; set; }

    /// <summary>
    /// Image-to-image: the start image, encoded by the VAE (a seeded posterior sample, as
    /// FluxImg2ImgPipeline draws it) and noised to <see cref="GenerationOptions.Strength"/>. Its sides
    /// must be multiples of 16; the result has its size (the options' width and height are not used).
    /// </summary>
    public RgbaImage? InitImage { get; set; }

    /// <summary>
    /// Inpainting, with <see cref="InitImage"/>: a mask of the image's size whose light pixels
    /// (luma of at least half) are repainted and dark ones kept, taken to the latent grid as
    /// FluxInpaintPipeline does (binarized, nearest).
    /// </summary>
    public RgbaImage? Mask { get; set; }

    /// <summary>Packed initial noise [1, S_img, in_channels] replacing the seeded noise, or null.</summary>
    public float[]? Noise { get; set; }

    /// <summary>
    /// Checks what the inputs decide alone, before any model runs: a mask needs an init image, an init
    /// image's sides are multiples of 16 (at least 16; a picture is not cropped silently), and a mask
    /// has the init image's size. <see cref="FluxPipeline.Generate(FluxPipelineInputs, GenerationOptions?, System.IProgress{GenerationProgress}?, System.Threading.CancellationToken)"/> checks it first; a host can call
    /// it before it loads a pipeline.
    /// </summary>
    /// <exception cref="SvdQuantException">The first problem, named.</exception>
    public void Validate()
    {
        if (Mask is not null && InitImage is null)
        {
            throw new SvdQuantException(StatusCode.InvalidArgument, "an inpainting mask needs an init image");
        }

        if (InitImage is not { } image)
        {
            return;
        }

        if (image.Width < 16 || image.Height < 16 || image.Width % 16 != 0 || image.Height % 16 != 0)
        {
            throw new SvdQuantException(
                StatusCode.ShapeMismatch, $"the init image is {image.Width} x {image.Height} pixels; both sides must be multiples of 16 (at least 16)");
        }

        if (Mask is { } mask && (mask.Width != image.Width || mask.Height != image.Height))
        {
            throw new SvdQuantException(
                StatusCode.ShapeMismatch, $"the mask is {mask.Width} x {mask.Height} pixels, the image {image.Width} x {image.Height}; they must match");
        }
    }
}
