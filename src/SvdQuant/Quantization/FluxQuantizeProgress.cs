namespace SvdQuant.Quantization;

/// <summary>One layer of <see cref="Quantizer.QuantizeFlux"/> written to the output file.</summary>
public sealed class FluxQuantizeProgress
{
    internal FluxQuantizeProgress(string layer, long done, long total, float? calibrationError)
    {
        Layer = layer;
        Done = done;
        Total = total;
        CalibrationError = calibrationError;
    }

    /// <summary>The layer's name in the file, e.g. <c>transformer_blocks.0.attn.to_qkv</c>.</summary>
    public string Layer { get; }

    /// <summary>Layers written so far, this one included.</summary>
    public long Done { get; }

    /// <summary>Layers the model has in all.</summary>
    public long Total { get; }

    /// <summary>
    /// ||Y - Y_float||_F / ||Y_float||_F of this layer on calibration tokens; null for the W4A16
    /// adaLN modulation layers, which have no calibration.
    /// </summary>
    public float? CalibrationError { get; }
}
