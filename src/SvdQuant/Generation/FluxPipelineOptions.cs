using SvdQuant.Models;

namespace SvdQuant.Generation;

/// <summary>How <see cref="FluxPipeline.Load"/> takes a folder's components.</summary>
public sealed class FluxPipelineOptions
{
    /// <summary>
    /// A transformer checkpoint replacing the folder's <c>transformer/</c>: a 4-bit file (ours, or
    /// Nunchaku's SVDQ INT4 or NVFP4) or another diffusers transformer folder. Null: <c>transformer/</c>.
    /// The folder's scheduler config still decides the schedule.
    /// </summary>
    public string? TransformerFile { get; set; }

    /// <summary>The scheme the transformer's block linears are quantized to at load when it is a float checkpoint; a 4-bit file runs as stored.</summary>
    public LinearScheme TransformerScheme { get; set; } = LinearScheme.Float;

    /// <summary>The transformer's attention precision (<see cref="FluxLoadOptions.AttentionPrecision"/>). Default: Auto.</summary>
    public AttentionPrecision TransformerAttention { get; set; } = AttentionPrecision.Auto;

    /// <summary>A 4-bit T5 file (ours, or Nunchaku's AWQ INT4 T5-XXL) replacing <c>text_encoder_2/</c>'s weights. Null: the folder's.</summary>
    public string? T5File { get; set; }

    /// <summary>T5's linears: <see cref="LinearScheme.Float"/> as stored, or <see cref="LinearScheme.W4A16"/> quantized at load (about 3 GB for T5-XXL).</summary>
    public LinearScheme T5Precision { get; set; } = LinearScheme.Float;

    /// <summary>T5's token count (padding and truncation), 1 to 512; null: 512 for FLUX.1-dev-style models (with a guidance embedding), 256 for schnell-style ones.</summary>
    public int? T5MaxLength { get; set; }
}
