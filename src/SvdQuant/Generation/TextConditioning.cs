using System;
using System.Collections.Generic;
using System.Linq;
using SvdQuant.Formats;

namespace SvdQuant.Generation;

/// <summary>
/// A prompt's text-encoder outputs as FluxPipeline passes them to the transformer: T5's
/// <c>encoder_hidden_states</c> [1, S_txt, D] and CLIP's <c>pooled_projections</c> [1, P].
/// The generator checks D and P against the model.
/// </summary>
public sealed class TextConditioning
{
    /// <summary>Conditioning from row-major arrays.</summary>
    /// <param name="encoderHiddenStates">[1, S_txt, D] values.</param>
    /// <param name="textTokens">S_txt, at least 1; divides the length of <paramref name="encoderHiddenStates"/>.</param>
    /// <param name="pooledProjections">[1, P] values.</param>
    /// <exception cref="ArgumentException">S_txt is not positive or does not divide the states, or an array is empty.</exception>
    public TextConditioning(float[] encoderHiddenStates, int textTokens, float[] pooledProjections)
    {
        EncoderHiddenStates = encoderHiddenStates ?? throw new ArgumentNullException(nameof(encoderHiddenStates));
        PooledProjections = pooledProjections ?? throw new ArgumentNullException(nameof(pooledProjections));
        if (textTokens < 1 || encoderHiddenStates.Length == 0 || encoderHiddenStates.Length % textTokens != 0)
        {
            throw new ArgumentException(
                $"textTokens {textTokens} must be positive and divide the {encoderHiddenStates.Length} encoder hidden state values", nameof(textTokens));
        }

        if (pooledProjections.Length == 0)
        {
            throw new ArgumentException("pooledProjections is empty", nameof(pooledProjections));
        }

        TextTokens = textTokens;
    }

    /// <summary>[1, S_txt, D], row-major.</summary>
    public float[] EncoderHiddenStates { get; }

    /// <summary>S_txt.</summary>
    public int TextTokens { get; }

    /// <summary>D, the width of a text token (the model's joint_attention_dim).</summary>
    public int TextWidth => EncoderHiddenStates.Length / TextTokens;

    /// <summary>[1, P] (P: the model's pooled_projection_dim).</summary>
    public float[] PooledProjections { get; }

    /// <summary>
    /// Reads <c>encoder_hidden_states</c> [1, S_txt, D] and <c>pooled_projections</c> [1, P] (F32, F16 or
    /// BF16; other float types are widened too) from a safetensors file.
    /// </summary>
    /// <param name="safetensorsPath">The file.</param>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.Format"/> naming a missing key,
    /// <see cref="StatusCode.ShapeMismatch"/> naming a tensor of the wrong rank or batch,
    /// <see cref="StatusCode.DType"/> for a non-float tensor, or the file's own errors.</exception>
    public static TextConditioning Load(string safetensorsPath)
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(safetensorsPath ?? throw new ArgumentNullException(nameof(safetensorsPath)));
        IReadOnlyList<long> states = ShapeOf(file, "encoder_hidden_states", "[1, S_txt, D]");
        ShapeOf(file, "pooled_projections", "[1, P]");
        return new TextConditioning(file.ReadFloats("encoder_hidden_states"), checked((int)states[1]), file.ReadFloats("pooled_projections"));
    }

    // The shape of `name`, which must exist with the rank of `expected` and batch 1 (and no empty dimension).
    private static IReadOnlyList<long> ShapeOf(SafeTensorsFile file, string name, string expected)
    {
        if (!file.TryGetTensor(name, out TensorInfo tensor))
        {
            throw new SvdQuantException(StatusCode.Format, $"{file.Path}: missing tensor '{name}' {expected}");
        }

        int rank = expected.Count(c => c == ',') + 1;
        if (tensor.Shape.Count != rank || tensor.Shape[0] != 1 || tensor.Shape.Any(d => d < 1))
        {
            throw new SvdQuantException(
                StatusCode.ShapeMismatch, $"{file.Path}: {name} is [{string.Join(", ", tensor.Shape)}], it must be {expected}");
        }

        return tensor.Shape;
    }
}
