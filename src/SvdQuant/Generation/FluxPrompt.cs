using System;

namespace SvdQuant.Generation;

/// <summary>
/// What conditions a <see cref="FluxPipeline"/> run: a text prompt (tokenized and encoded by the
/// pipeline), token ids (encoded), or text-encoder outputs made elsewhere (used as they are).
/// </summary>
public sealed class FluxPrompt
{
    private FluxPrompt(string? text, int[]? clipIds, int[]? t5Ids, TextConditioning? embeddings)
    {
        Text = text;
        ClipIds = clipIds;
        T5Ids = t5Ids;
        Embeddings = embeddings;
    }

    /// <summary>The prompt text, or null.</summary>
    public string? Text { get; }

    /// <summary>CLIP's input ids, or null.</summary>
    public int[]? ClipIds { get; }

    /// <summary>T5's input ids, or null.</summary>
    public int[]? T5Ids { get; }

    /// <summary>Text-encoder outputs, or null.</summary>
    public TextConditioning? Embeddings { get; }

    /// <summary>A text prompt; the empty prompt encodes as the pipeline encodes "".</summary>
    public static FluxPrompt FromText(string text) => new(text ?? throw new ArgumentNullException(nameof(text)), null, null, null);

    /// <summary>Token ids of both encoders (as <c>svdquant encode --token-ids</c> reads them).</summary>
    public static FluxPrompt FromTokenIds(int[] clipIds, int[] t5Ids) => new(
        null, clipIds ?? throw new ArgumentNullException(nameof(clipIds)), t5Ids ?? throw new ArgumentNullException(nameof(t5Ids)), null);

    /// <summary>Text-encoder outputs made elsewhere; the pipeline's encoders are not loaded for them.</summary>
    public static FluxPrompt FromEmbeddings(TextConditioning embeddings) =>
        new(null, null, null, embeddings ?? throw new ArgumentNullException(nameof(embeddings)));

    /// <summary>A text prompt.</summary>
    public static implicit operator FluxPrompt(string text) => FromText(text);
}
