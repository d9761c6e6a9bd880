namespace SvdQuant.Models;

/// <summary>A loaded <see cref="ClipTextEncoder"/>'s configuration and size, as reported by the engine.</summary>
public sealed class ClipTextEncoderInfo
{
    internal ClipTextEncoderInfo(
        int hiddenSize, int intermediateSize, int layers, int heads, int maxPositionEmbeddings, long vocabularySize, long endTokenId, long weightBytes)
    {
        HiddenSize = hiddenSize;
        IntermediateSize = intermediateSize;
        Layers = layers;
        Heads = heads;
        MaxPositionEmbeddings = maxPositionEmbeddings;
        VocabularySize = vocabularySize;
        EndTokenId = endTokenId;
        WeightBytes = weightBytes;
    }

    /// <summary>The width of a hidden state and of the pooled output (FLUX's pooled_projection_dim: 768 for CLIP-L).</summary>
    public int HiddenSize { get; }

    /// <summary>The MLP width.</summary>
    public int IntermediateSize { get; }

    /// <summary>Encoder layers.</summary>
    public int Layers { get; }

    /// <summary>Attention heads.</summary>
    public int Heads { get; }

    /// <summary>The most ids one row may have (77 for CLIP-L).</summary>
    public int MaxPositionEmbeddings { get; }

    /// <summary>Ids must lie in [0, VocabularySize).</summary>
    public long VocabularySize { get; }

    /// <summary>The config's eos_token_id; 2 (CLIP-L's legacy config) pools at the largest id of a row instead.</summary>
    public long EndTokenId { get; }

    /// <summary>Bytes the loaded parameters occupy in memory.</summary>
    public long WeightBytes { get; }
}
