using System.Collections.Generic;

namespace SvdQuant.Generation;

/// <summary>What one <see cref="FluxPipeline"/> run made.</summary>
public sealed class FluxPipelineResult
{
    internal FluxPipelineResult(RgbaImage image, float[] decoded, GenerationResult latents, IReadOnlyList<string> warnings)
    {
        Image = image;
        Decoded = decoded;
        Latents = latents;
        Warnings = warnings;
    }

    /// <summary>The picture, RGBA8 (VaeImageProcessor.postprocess: round(clamp(x / 2 + 0.5, 0, 1) * 255), alpha 255).</summary>
    public RgbaImage Image { get; }

    /// <summary>The VAE's output [1, 3, H, W] before conversion to 8 bits.</summary>
    public float[] Decoded { get; }

    /// <summary>The sampler's run: final packed latents, steps, evaluations, cached steps, seconds.</summary>
    public GenerationResult Latents { get; }

    /// <summary>What the run noticed but went on with: a prompt truncated to the tokenizers' length, naming the tokens cut.</summary>
    public IReadOnlyList<string> Warnings { get; }
}
