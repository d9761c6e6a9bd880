using System;
using BenchmarkDotNet.Attributes;
using SvdQuant.Cli.Demo;
using SvdQuant.Models;
using SvdQuant.Quantization;

namespace SvdQuant.Benchmarks;

/// <summary>
/// One linear layer's forward pass in each precision on FLUX.1's shapes, through the managed
/// API so the interop cost is included, each reported as a ratio to W4A16 measured in the
/// same run (DESIGN section 8). Every method builds only its own layer.
/// </summary>
[Config(typeof(BenchmarkConfig))]
public class LinearForwardBenchmarks
{
    private Engine _engine = null!;
    private LinearLayer _layer = null!;
    private float[,] _x = null!;
    private float[,] _y = null!;

    /// <summary>M, the tokens in one call: a 512px image's 1024 + 512 tokens are in between.</summary>
    [Params(256, 4096)]
    public int Tokens { get; set; }

    /// <summary>K x N: attention projections, the MLP's up- and down-projection.</summary>
    [Params("3072x3072", "3072x12288", "12288x3072")]
    public string Shape { get; set; } = "3072x3072";

    /// <summary>r of the SVDQuant branch.</summary>
    public const int Rank = 32;

    internal static (int K, int N) ParseShape(string shape)
    {
        string[] parts = shape.Split('x');
        return (int.Parse(parts[0]), int.Parse(parts[1]));
    }

    [GlobalSetup(Target = nameof(Float))]
    public void SetupFloat() => Build(LinearScheme.Float, _ => null);

    [GlobalSetup(Target = nameof(W4A16))]
    public void SetupW4A16() => Build(LinearScheme.W4A16, _ => null);

    [GlobalSetup(Target = nameof(W4A4Naive))]
    public void SetupW4A4Naive() => Build(LinearScheme.W4A4, _ => null);

    [GlobalSetup(Target = nameof(SvdQuantFused))]
    public void SetupSvdQuantFused() => Build(LinearScheme.W4A4, data => SvdQuantOptions(data, BranchExecution.Fused));

    [GlobalSetup(Target = nameof(SvdQuantUnfused))]
    public void SetupSvdQuantUnfused() => Build(LinearScheme.W4A4, data => SvdQuantOptions(data, BranchExecution.Unfused));

    [GlobalCleanup]
    public void DisposeLayer()
    {
        _layer.Dispose();
        _engine.Dispose();
    }

    [Benchmark(Description = "float")]
    public void Float() => _layer.Forward(_engine, _x, _y);

    [Benchmark(Baseline = true, Description = "W4A16")]
    public void W4A16() => _layer.Forward(_engine, _x, _y);

    [Benchmark(Description = "W4A4 naive")]
    public void W4A4Naive() => _layer.Forward(_engine, _x, _y);

    [Benchmark(Description = "W4A4 + low-rank, fused")]
    public void SvdQuantFused() => _layer.Forward(_engine, _x, _y);

    [Benchmark(Description = "W4A4 + low-rank, unfused")]
    public void SvdQuantUnfused() => _layer.Forward(_engine, _x, _y);

    private void Build(LinearScheme precision, Func<SyntheticLayer, LinearLayerOptions?> options)
    {
        (int k, int n) = ParseShape(Shape);
        _engine = new Engine();
        SyntheticLayer data = SyntheticLayer.Create(Tokens, k, n, seed: 1);
        _layer = LinearLayer.Create(_engine, precision, data.Weight, data.Bias, options(data));
        _x = data.Activations;
        _y = new float[Tokens, n];
    }

    private LinearLayerOptions SvdQuantOptions(SyntheticLayer data, BranchExecution execution)
    {
        float[] smooth = Smoothing.Compute(_engine, data.Calibration, data.Weight);
        return new LinearLayerOptions
        {
            Smooth = smooth,
            LowRank = LowRank.Decompose(_engine, data.Weight, smooth, Rank),
            BranchExecution = execution,
        };
    }
}
