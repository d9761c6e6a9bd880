using System;

namespace SvdQuant.Models;

/// <summary>
/// One forward's inputs, row-major float arrays exactly as diffusers' FluxPipeline passes them
/// to <c>FluxTransformer2DModel</c>.
/// </summary>
public sealed class FluxInputs
{
    /// <summary>Images in the batch, B.</summary>
    public int Batch { get; set; }

    /// <summary>Packed latent tokens per image, S_img.</summary>
    public int ImageTokens { get; set; }

    /// <summary>Text tokens per prompt, S_txt.</summary>
    public int TextTokens { get; set; }

    /// <summary>[B, S_img, in_channels x patch^2].</summary>
    public float[] HiddenStates { get; set; } = Array.Empty<float>();

    /// <summary>[B, S_txt, joint_attention_dim].</summary>
    public float[] EncoderHiddenStates { get; set; } = Array.Empty<float>();

    /// <summary>[B, pooled_projection_dim].</summary>
    public float[] PooledProjections { get; set; } = Array.Empty<float>();

    /// <summary>[B], t / 1000 in [0, 1].</summary>
    public float[] Timestep { get; set; } = Array.Empty<float>();

    /// <summary>[B] raw guidance scale (e.g. 3.5); required when the model embeds guidance.</summary>
    public float[]? Guidance { get; set; }

    /// <summary>[S_img, 3] position ids (0, row, column).</summary>
    public float[] ImageIds { get; set; } = Array.Empty<float>();

    /// <summary>[S_txt, 3] position ids (zeros for FLUX.1).</summary>
    public float[] TextIds { get; set; } = Array.Empty<float>();
}
