using System;
using System.Collections.Generic;
using SvdQuant.Models;

namespace SvdQuant.Quantization;

/// <summary>The layers <see cref="Quantizer"/> built for one input, with the smoothing they share.</summary>
public sealed class QuantizedLayers : IDisposable
{
    internal QuantizedLayers(
        IReadOnlyList<LinearLayer> layers, float[] smooth, IReadOnlyList<LowRankBranch?> branches, QuantizationReport report)
    {
        Layers = layers;
        Smooth = smooth;
        Branches = branches;
        Report = report;
    }

    /// <summary>One layer per weight, in the order given.</summary>
    public IReadOnlyList<LinearLayer> Layers { get; }

    /// <summary>lambda [K] shared by the layers; ones without smoothing.</summary>
    public float[] Smooth { get; }

    /// <summary>
    /// Each layer's low-rank branch (a factorisation of W * <see cref="Smooth"/>), or null for the
    /// methods without one. With <see cref="Smooth"/> they are what <see cref="LinearLayer.Create"/> needs.
    /// </summary>
    public IReadOnlyList<LowRankBranch?> Branches { get; }

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
