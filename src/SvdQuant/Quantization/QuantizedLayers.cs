using System;
using System.Collections.Generic;
using SvdQuant.Models;

namespace SvdQuant.Quantization;

/// <summary>The layers <see cref="Quantizer"/> built for one input, with the smoothing they share.</summary>
public sealed class QuantizedLayers : IDisposable
{
    internal QuantizedLayers(IReadOnlyList<LinearLayer> layers, float[] smooth, QuantizationReport report)
    {
        Layers = layers;
        Smooth = smooth;
        Report = report;
    }

    /// <summary>One layer per weight, in the order given.</summary>
    public IReadOnlyList<LinearLayer> Layers { get; }

    /// <summary>lambda [K] shared by the layers; ones without smoothing.</summary>
    public float[] Smooth { get; }

    /// <summary>The chosen exponents and the time per stage.</summary>
    public QuantizationReport Report { get; }

    /// <summary>Frees every layer.</summary>
    public void Dispose()
    {
        foreach (LinearLayer layer in Layers)
        {
            layer.Dispose();
        }
    }
}
