using System.Collections.Generic;
using SvdQuant.Models;

namespace SvdQuant.Quantization;

/// <summary>Settings of <see cref="Quantizer"/>; the defaults are the engine's.</summary>
public sealed class QuantizerOptions
{
    /// <summary>Default: <see cref="QuantizationMethod.SvdQuant"/>.</summary>
    public QuantizationMethod Method { get; set; } = QuantizationMethod.SvdQuant;

    /// <summary>Default: <see cref="NumberFormat.Int4"/>.</summary>
    public NumberFormat Format { get; set; } = NumberFormat.Int4;

    /// <summary>Rank of the low-rank branch, a positive multiple of 16. Default 32.</summary>
    public int Rank { get; set; } = LowRank.DefaultRank;

    /// <summary>Default: <see cref="SmoothSearch.CoarseToFine"/>.</summary>
    public SmoothSearch Search { get; set; } = SmoothSearch.CoarseToFine;

    /// <summary>alpha and beta range over {0, 1/GridSteps, ..., 1}. Default 20 (step 0.05).</summary>
    public int GridSteps { get; set; } = 20;

    /// <summary>alpha for <see cref="SmoothSearch.Fixed"/>. Default 0.5.</summary>
    public float Alpha { get; set; } = 0.5f;

    /// <summary>beta for <see cref="SmoothSearch.Fixed"/>. Default 0.5.</summary>
    public float Beta { get; set; } = 0.5f;

    /// <summary>Most rounds of L = SVD_r(W - Q(W - L)), kept while the error falls. Default 0.</summary>
    public int RefineIterations { get; set; }

    /// <summary>Calibration tokens that score a smoothing candidate. Default 64.</summary>
    public int ScoreTokens { get; set; } = 64;

    /// <summary>Output channels per layer that score a smoothing candidate. Default 128.</summary>
    public int ScoreRows { get; set; } = 128;

    /// <summary>Activation of the created layers. Default: none.</summary>
    public Activation Activation { get; set; } = Activation.None;

    /// <summary>Branch execution of the created layers. Default: fused.</summary>
    public BranchExecution BranchExecution { get; set; } = BranchExecution.Fused;

    /// <summary>
    /// <see cref="Quantizer.QuantizeFlux"/> only: LoRAs merged into the float weights before quantization, in
    /// order (every key matched as <see cref="FluxLoraCollection.Add(Engine, string, float)"/> matches it). The
    /// layer quantizers refuse a non-empty list. Default: none.
    /// </summary>
    public IList<LoraMerge> Loras { get; } = new List<LoraMerge>();
}
