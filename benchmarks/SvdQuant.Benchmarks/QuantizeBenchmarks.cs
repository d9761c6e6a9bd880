using System;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using SvdQuant.Cli.Demo;
using SvdQuant.Models;
using SvdQuant.Quantization;

namespace SvdQuant.Benchmarks;

/// <summary>
/// Quantizing one FLUX attention projection (3072 x 3072, rank 32, 256 calibration tokens)
/// through the managed API. The per-stage split of the last call (smoothing search, SVD,
/// packing) is printed at cleanup, so it lands in the BenchmarkDotNet log.
/// </summary>
[Config(typeof(QuantizeConfig))]
public class QuantizeBenchmarks
{
    private const int Features = 3072;
    private const int CalibrationTokens = 256;

    private Engine _engine = null!;
    private SyntheticLayer _data = null!;
    private QuantizationReport? _last;

    [GlobalSetup]
    public void Setup()
    {
        _engine = new Engine();
        _data = SyntheticLayer.Create(CalibrationTokens, Features, Features, seed: 1);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_last is not null)
        {
            Console.WriteLine(
                $"// split of the last call: search {_last.Search.TotalSeconds:0.000} s ({_last.Candidates} candidates), " +
                $"SVD {_last.Svd.TotalSeconds:0.000} s, packing {_last.Packing.TotalSeconds:0.000} s; alpha {_last.Alpha}, beta {_last.Beta}");
        }

        _engine.Dispose();
    }

    [Benchmark(Baseline = true, Description = "SVDQuant INT4, coarse-to-fine search")]
    public void Int4() => Run(NumberFormat.Int4, SmoothSearch.CoarseToFine);

    [Benchmark(Description = "SVDQuant NVFP4, coarse-to-fine search")]
    public void Nvfp4() => Run(NumberFormat.Nvfp4, SmoothSearch.CoarseToFine);

    [Benchmark(Description = "SVDQuant INT4, every grid point")]
    public void Int4FullGrid() => Run(NumberFormat.Int4, SmoothSearch.Exhaustive);

    private void Run(NumberFormat format, SmoothSearch search)
    {
        using QuantizedLayers result = Quantizer.Quantize(
            _engine, _data.Calibration, _data.Weight, _data.Bias,
            new QuantizerOptions { Format = format, Search = search, Rank = 32 });
        _last = result.Report;
    }

    private sealed class QuantizeConfig : ManualConfig
    {
        public QuantizeConfig()
        {
            AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(5).WithId("Quantize"));
        }
    }
}
