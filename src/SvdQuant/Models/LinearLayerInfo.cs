namespace SvdQuant.Models;

/// <summary>What a <see cref="LinearLayer"/> holds, as reported by the engine.</summary>
public sealed class LinearLayerInfo
{
    internal LinearLayerInfo(
        LinearScheme scheme, Activation activation, int rank, bool hasBias, bool hasSmooth,
        BranchExecution branchExecution, int inFeatures, int outFeatures, long weightBytes, NumberFormat format)
    {
        Scheme = scheme;
        Activation = activation;
        Rank = rank;
        HasBias = hasBias;
        HasSmooth = hasSmooth;
        BranchExecution = branchExecution;
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        WeightBytes = weightBytes;
        Format = format;
    }

    /// <summary>Which operands are 4-bit.</summary>
    public LinearScheme Scheme { get; }

    /// <summary>The function applied after the bias.</summary>
    public Activation Activation { get; }

    /// <summary>The rank of the low-rank branch; 0 without one.</summary>
    public int Rank { get; }

    /// <summary>Whether the layer adds a bias.</summary>
    public bool HasBias { get; }

    /// <summary>Whether the layer smooths its activations.</summary>
    public bool HasSmooth { get; }

    /// <summary>How the low-rank branch runs.</summary>
    public BranchExecution BranchExecution { get; }

    /// <summary>K, the length of an input row.</summary>
    public int InFeatures { get; }

    /// <summary>N, the length of an output row.</summary>
    public int OutFeatures { get; }

    /// <summary>The bytes the layer's parameters occupy in memory.</summary>
    public long WeightBytes { get; }

    /// <summary>The number format of its values (<see cref="NumberFormat.Float"/> for float layers).</summary>
    public NumberFormat Format { get; }
}
