namespace SvdQuant.Models;

/// <summary>How <see cref="FluxTransformer.Load"/> prepares a model.</summary>
public sealed class FluxLoadOptions
{
    /// <summary>
    /// The scheme of transformer-block linears read from float tensors (a diffusers folder),
    /// quantized at load without calibration; the adaLN modulation linears use W4A16 when this is
    /// W4A4, as in Nunchaku; 4-bit schemes quantize to INT4. Layers a quantized checkpoint stores are used as stored whatever this
    /// says. Embedders and proj_out stay float. Default: <see cref="LinearScheme.Float"/>.
    /// </summary>
    public LinearScheme BlockScheme { get; set; } = LinearScheme.Float;

    /// <summary>
    /// The attention's precision. Default: <see cref="AttentionPrecision.Auto"/>, BF16 for 4-bit
    /// blocks and fp32 for float ones; <see cref="FluxInfo.AttentionPrecision"/> says what was chosen.
    /// </summary>
    public AttentionPrecision AttentionPrecision { get; set; } = AttentionPrecision.Auto;
}
