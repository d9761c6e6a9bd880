using System;
using System.Collections.Generic;
using System.Linq;
using SvdQuant.Formats;

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

    /// <summary>[B, S_img, in_channels] (packed latents, as diffusers passes them).</summary>
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

    /// <summary>
    /// The shapes the tensors had in the file <see cref="Read"/> took them from, by input name;
    /// <see cref="FluxTransformer.Forward"/> hands these to the engine, which checks every one
    /// against the model (so a transposed <c>img_ids</c> or a too-wide <c>pooled_projections</c>
    /// is refused, not reshaped). Null for inputs built in code: their shapes follow from the sizes.
    /// </summary>
    internal IReadOnlyDictionary<string, long[]>? StoredShapes { get; private set; }

    /// <summary>
    /// The inputs in a safetensors file with the keys of <c>svdquant flux forward</c>
    /// (<c>hidden_states</c>, <c>encoder_hidden_states</c>, <c>pooled_projections</c>, <c>timestep</c>,
    /// optional <c>guidance</c>, <c>img_ids</c>, <c>txt_ids</c>), widened to float with their stored shapes.
    /// </summary>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.Format"/> naming a missing tensor,
    /// <see cref="StatusCode.ShapeMismatch"/> for <c>hidden_states</c> or <c>encoder_hidden_states</c> that are not 3-D,
    /// <see cref="StatusCode.DType"/> for a non-float tensor. Every other shape is checked by the forward.</exception>
    public static FluxInputs Read(SafeTensorsFile file)
    {
        if (file is null)
        {
            throw new ArgumentNullException(nameof(file));
        }

        var shapes = new Dictionary<string, long[]>();
        float[] Tensor(string name)
        {
            if (!file.TryGetTensor(name, out TensorInfo tensor))
            {
                throw new SvdQuantException(StatusCode.Format, $"{file.Path}: missing tensor '{name}'");
            }

            shapes[name] = tensor.Shape.ToArray();
            return file.ReadFloats(name);
        }

        var inputs = new FluxInputs
        {
            HiddenStates = Tensor("hidden_states"),
            EncoderHiddenStates = Tensor("encoder_hidden_states"),
            PooledProjections = Tensor("pooled_projections"),
            Timestep = Tensor("timestep"),
            Guidance = file.TryGetTensor("guidance", out _) ? Tensor("guidance") : null,
            ImageIds = Tensor("img_ids"),
            TextIds = Tensor("txt_ids"),
        };
        long[] hidden = shapes["hidden_states"], context = shapes["encoder_hidden_states"];
        if (hidden.Length != 3 || context.Length != 3)
        {
            throw new SvdQuantException(
                StatusCode.ShapeMismatch,
                $"{file.Path}: hidden_states [{string.Join(", ", hidden)}] and encoder_hidden_states [{string.Join(", ", context)}] must be 3-D [batch, tokens, channels]");
        }

        inputs.Batch = checked((int)hidden[0]);
        inputs.ImageTokens = checked((int)hidden[1]);
        inputs.TextTokens = checked((int)context[1]);
        inputs.StoredShapes = shapes;
        return inputs;
    }

    /// <summary>The stored shape of <paramref name="name"/>, else <paramref name="fromSizes"/>.</summary>
    internal long[] ShapeOf(string name, long[] fromSizes) =>
        StoredShapes is not null && StoredShapes.TryGetValue(name, out long[]? shape) ? shape : fromSizes;
}
