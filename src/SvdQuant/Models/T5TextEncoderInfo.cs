namespace SvdQuant.Models;

/// <summary>A loaded <see cref="T5TextEncoder"/>'s configuration, scheme and size, as reported by the engine.</summary>
public sealed class T5TextEncoderInfo
{
    internal T5TextEncoderInfo(int modelDim, int headDim, int feedForwardDim, int layers, int heads, LinearScheme scheme, long vocabularySize, long weightBytes)
    {
        ModelDim = modelDim;
        HeadDim = headDim;
        FeedForwardDim = feedForwardDim;
        Layers = layers;
        Heads = heads;
        Scheme = scheme;
        VocabularySize = vocabularySize;
        WeightBytes = weightBytes;
    }

    /// <summary>d_model: the width of a hidden state (FLUX's joint_attention_dim: 4096 for T5-XXL).</summary>
    public int ModelDim { get; }

    /// <summary>d_kv: channels per attention head.</summary>
    public int HeadDim { get; }

    /// <summary>d_ff: the gated feed-forward width.</summary>
    public int FeedForwardDim { get; }

    /// <summary>Encoder blocks.</summary>
    public int Layers { get; }

    /// <summary>Attention heads.</summary>
    public int Heads { get; }

    /// <summary>The scheme of the block linears: <see cref="LinearScheme.Float"/> or <see cref="LinearScheme.W4A16"/>.</summary>
    public LinearScheme Scheme { get; }

    /// <summary>Ids must lie in [0, VocabularySize).</summary>
    public long VocabularySize { get; }

    /// <summary>Bytes the loaded parameters occupy in memory.</summary>
    public long WeightBytes { get; }
}
