using BenchmarkDotNet.Attributes;
using SvdQuant.Cli.Demo;
using SvdQuant.Models;
using SvdQuant.Quantization;

namespace SvdQuant.Benchmarks;

/// <summary>
/// One linear layer's forward pass in each precision, through the managed API, reported as
/// a ratio to W4A16 (DESIGN section 8). Shapes are FLUX.1's; add values to the params to
/// cover more of them (K, N in {3072, 12288, 15360}).
/// </summary>
[MemoryDiagnoser]
public class LinearForwardBenchmarks
{
    private Engine _engine = null!;
    private LinearLayer _float = null!;
    private LinearLayer _w4a16 = null!;
    private LinearLayer _w4a4 = null!;
    private LinearLayer _svdQuant = null!;
    private float[,] _x = null!;
    private float[,] _y = null!;

    /// <summary>M, the tokens in one call.</summary>
    [Params(256)]
    public int Tokens { get; set; }

    /// <summary>K.</summary>
    [Params(3072)]
    public int InFeatures { get; set; }

    /// <summary>N.</summary>
    [Params(3072)]
    public int OutFeatures { get; set; }

    /// <summary>r of the SVDQuant branch.</summary>
    [Params(32)]
    public int Rank { get; set; }

    [GlobalSetup]
    public void BuildLayers()
    {
        _engine = new Engine();
        SyntheticLayer data = SyntheticLayer.Create(Tokens, InFeatures, OutFeatures, seed: 1);
        float[] smooth = Smoothing.Compute(_engine, data.Calibration, data.Weight);
        var svdQuant = new LinearLayerOptions { Smooth = smooth, LowRank = LowRank.Decompose(_engine, data.Weight, smooth, Rank) };

        _float = LinearLayer.Create(_engine, LinearPrecision.Float, data.Weight, data.Bias);
        _w4a16 = LinearLayer.Create(_engine, LinearPrecision.W4A16, data.Weight, data.Bias);
        _w4a4 = LinearLayer.Create(_engine, LinearPrecision.W4A4, data.Weight, data.Bias);
        _svdQuant = LinearLayer.Create(_engine, LinearPrecision.W4A4, data.Weight, data.Bias, svdQuant);
        _x = data.Activations;
        _y = new float[Tokens, OutFeatures];
    }

    [GlobalCleanup]
    public void DisposeLayers()
    {
        _svdQuant.Dispose();
        _w4a4.Dispose();
        _w4a16.Dispose();
        _float.Dispose();
        _engine.Dispose();
    }

    [Benchmark(Description = "float")]
    public void Float() => _float.Forward(_engine, _x, _y);

    [Benchmark(Baseline = true, Description = "W4A16")]
    public void W4A16() => _w4a16.Forward(_engine, _x, _y);

    [Benchmark(Description = "W4A4 naive")]
    public void W4A4Naive() => _w4a4.Forward(_engine, _x, _y);

    [Benchmark(Description = "W4A4 SVDQuant")]
    public void W4A4SvdQuant() => _svdQuant.Forward(_engine, _x, _y);
}
