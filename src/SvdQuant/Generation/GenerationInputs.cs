using System;

namespace SvdQuant.Generation;

/// <summary>
/// What one run of <see cref="FluxGenerator.Generate"/> conditions on and starts from. Latent-shaped
/// arrays are packed latents [1, S_img, in_channels] of <see cref="FluxGenerator.LatentShape"/>.
/// </summary>
public sealed class GenerationInputs
{
    /// <summary>Inputs for <paramref name="prompt"/>, starting from seeded noise.</summary>
    /// <param name="prompt">The prompt's text-encoder outputs.</param>
    public GenerationInputs(TextConditioning prompt)
    {
        Prompt = prompt ?? throw new ArgumentNullException(nameof(prompt));
    }

    /// <summary>The prompt's text-encoder outputs.</summary>
    public TextConditioning Prompt { get; }

    /// <summary>The negative prompt's, for true CFG (<see cref="GenerationOptions.TrueCfgScale"/> above 1); null without.</summary>
    public TextConditioning? Negative { get; set; }

    /// <summary>Initial noise that replaces the seeded noise, so runs can be reproduced across tools; null: seeded.</summary>
    public float[]? Noise { get; set; }

    /// <summary>Image-to-image start (the encoded image), noised to the schedule's first sigma at <see cref="GenerationOptions.Strength"/>; null: text-to-image.</summary>
    public float[]? InitLatents { get; set; }

    /// <summary>Latent-level inpainting mask with <see cref="InitLatents"/>: 1 repaints, 0 keeps the original; null: no mask.</summary>
    public float[]? Mask { get; set; }
}
