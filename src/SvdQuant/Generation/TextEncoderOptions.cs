using SvdQuant.Models;

namespace SvdQuant.Generation;

/// <summary>How <see cref="TextEncoders.Load"/> sets up a pipeline folder's text encoders.</summary>
public sealed class TextEncoderOptions
{
    /// <summary>The scheme of T5's block linears: <see cref="LinearScheme.Float"/> (default) or <see cref="LinearScheme.W4A16"/> (INT4, quantized at load unless <see cref="T5File"/> is already 4-bit).</summary>
    public LinearScheme T5Precision { get; set; } = LinearScheme.Float;

    /// <summary>A 4-bit T5 file (<see cref="T5TextEncoder.Save"/>) read instead of the folder's <c>text_encoder_2/</c>; null reads the folder.</summary>
    public string? T5File { get; set; }

    /// <summary>
    /// T5's token count, 1 to 512 (diffusers' FluxPipeline limit): prompts are cut or padded to it. Null takes the pipeline's: 512 for a FLUX.1-dev-style model
    /// (<c>transformer/config.json</c> with <c>guidance_embeds</c> true, or no transformer config), 256 for a schnell-style one.
    /// </summary>
    public int? T5MaxLength { get; set; }
}
