namespace SvdQuant.Models;

/// <summary>One module of a <see cref="LoraFile"/>: a down [rank, in] and an up [out, rank] matrix and its alpha.</summary>
public sealed class LoraModule
{
    internal LoraModule(string name, int rank, float alpha, bool alphaGiven, long inFeatures, long outFeatures, bool isFluxModule)
    {
        Name = name;
        Rank = rank;
        Alpha = alpha;
        AlphaGiven = alphaGiven;
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        IsFluxModule = isFluxModule;
    }

    /// <summary>The module's key prefix in the file, e.g. <c>transformer.single_transformer_blocks.0.attn.to_q</c>.</summary>
    public string Name { get; }

    /// <summary>r, the rows of down and the columns of up.</summary>
    public int Rank { get; }

    /// <summary>The file's alpha, or <see cref="Rank"/> when the file has none (<see cref="AlphaGiven"/> false); the scale is alpha / rank.</summary>
    public float Alpha { get; }

    /// <summary>Whether the file holds this module's alpha.</summary>
    public bool AlphaGiven { get; }

    /// <summary>The columns of down: the width of the input the module reads.</summary>
    public long InFeatures { get; }

    /// <summary>The rows of up: the width of the output the module changes.</summary>
    public long OutFeatures { get; }

    /// <summary>Whether the name is a module of the FLUX.1 transformer (in this file's key style).</summary>
    public bool IsFluxModule { get; }
}
