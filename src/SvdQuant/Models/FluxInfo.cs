namespace SvdQuant.Models;

/// <summary>A loaded <see cref="FluxTransformer"/>'s configuration and size, as reported by the engine.</summary>
public sealed class FluxInfo
{
    internal FluxInfo(
        LinearScheme blockScheme, NumberFormat blockFormat, int layers, int singleLayers, int heads, int headDim, int inChannels,
        int outChannels, int patchSize, int jointAttentionDim, int pooledProjectionDim, bool guidanceEmbeds,
        long parameterCount, long weightBytes, AttentionPrecision attentionPrecision)
    {
        BlockScheme = blockScheme;
        BlockFormat = blockFormat;
        Layers = layers;
        SingleLayers = singleLayers;
        Heads = heads;
        HeadDim = headDim;
        InChannels = inChannels;
        OutChannels = outChannels;
        PatchSize = patchSize;
        JointAttentionDim = jointAttentionDim;
        PooledProjectionDim = pooledProjectionDim;
        GuidanceEmbeds = guidanceEmbeds;
        ParameterCount = parameterCount;
        WeightBytes = weightBytes;
        AttentionPrecision = attentionPrecision;
    }

    /// <summary>The scheme of the transformer-block linears (embedders and proj_out stay float).</summary>
    public LinearScheme BlockScheme { get; }

    /// <summary>The number format of the transformer-block linears: a quantized checkpoint's own.</summary>
    public NumberFormat BlockFormat { get; }

    /// <summary>Double-stream blocks.</summary>
    public int Layers { get; }

    /// <summary>Single-stream blocks.</summary>
    public int SingleLayers { get; }

    /// <summary>Attention heads.</summary>
    public int Heads { get; }

    /// <summary>Channels per attention head.</summary>
    public int HeadDim { get; }

    /// <summary>Features of an input image token (x_embedder reads in_channels, as in diffusers).</summary>
    public int InChannels { get; }

    /// <summary>Latent channels out (per patch pixel).</summary>
    public int OutChannels { get; }

    /// <summary>Patch edge in latent pixels.</summary>
    public int PatchSize { get; }

    /// <summary>Width of a text-encoder token.</summary>
    public int JointAttentionDim { get; }

    /// <summary>Width of the pooled text embedding.</summary>
    public int PooledProjectionDim { get; }

    /// <summary>Whether the model embeds the guidance scale (FLUX.1-dev) and so needs it as input.</summary>
    public bool GuidanceEmbeds { get; }

    /// <summary>Parameters of the float model.</summary>
    public long ParameterCount { get; }

    /// <summary>Bytes the loaded parameters occupy in memory.</summary>
    public long WeightBytes { get; }

    /// <summary>The attention's precision: the load option with <see cref="Models.AttentionPrecision.Auto"/> resolved.</summary>
    public AttentionPrecision AttentionPrecision { get; }

    /// <summary>Width of an input image token: in_channels (x_embedder's input, as in diffusers).</summary>
    public int ImageTokenWidth => InChannels;

    /// <summary>Width of an output image token: out_channels x patch^2.</summary>
    public int OutputTokenWidth => OutChannels * PatchSize * PatchSize;
}
