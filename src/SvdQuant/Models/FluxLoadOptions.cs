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
}
