using System;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using SvdQuant.Cli.Demo;
using SvdQuant.Models;
using SvdQuant.Quantization;

namespace SvdQuant.Benchmarks;

/// <summary>
/// What a LoRA costs on an SVDQuant layer (issue 17): one W4A4 layer with its fused rank-32 branch on
/// FLUX.1's shapes at 4096 tokens (a 1024px image), alone and with a LoRA of rank 16, 64 and 128 set
/// through <see cref="LinearLayer.SetLowRankUpdates"/>, which joins the fused branch (rank 32 + r,
/// padded to the kernel's multiple). The Ratio column is the time against rank 32 alone in the same
/// run. Every case builds the same layer (same data and quantization) and only its LoRA differs.
/// SVDQ_BENCH_SMOKE=1 runs BenchmarkDotNet's Dry job instead (one warm-up, one iteration): a smoke run.
/// </summary>
[Config(typeof(LoraConfig))]
public class LoraBenchmarks
{
    /// <summary>r of the SVDQuant branch.</summary>
    public const int Rank = 32;

    /// <summary>M: a 1024px image's 64 x 64 latent tokens.</summary>
    public const int Tokens = 4096;

    private Engine _engine = null!;
    private LinearLayer _layer = null!;
    private float[,] _x = null!;
    private float[,] _y = null!;

    /// <summary>K x N: the fused q/k/v projection and the MLP's down-projection.</summary>
    [Params("3072x9216", "12288x3072")]
    public string Shape { get; set; } = "3072x9216";

    [GlobalSetup(Target = nameof(Rank32))]
    public void SetupRank32() => Build(loraRank: 0);

    [GlobalSetup(Target = nameof(Lora16))]
    public void SetupLora16() => Build(loraRank: 16);

    [GlobalSetup(Target = nameof(Lora64))]
    public void SetupLora64() => Build(loraRank: 64);

    [GlobalSetup(Target = nameof(Lora128))]
    public void SetupLora128() => Build(loraRank: 128);

    [GlobalCleanup]
    public void Cleanup()
    {
        _layer.Dispose();
        _engine.Dispose();
    }

    [Benchmark(Baseline = true, Description = "W4A4 r32")]
    public void Rank32() => _layer.Forward(_engine, _x, _y);

    [Benchmark(Description = "W4A4 r32 + LoRA 16")]
    public void Lora16() => _layer.Forward(_engine, _x, _y);

    [Benchmark(Description = "W4A4 r32 + LoRA 64")]
    public void Lora64() => _layer.Forward(_engine, _x, _y);

    [Benchmark(Description = "W4A4 r32 + LoRA 128")]
    public void Lora128() => _layer.Forward(_engine, _x, _y);

    private void Build(int loraRank)
    {
        (int k, int n) = LinearForwardBenchmarks.ParseShape(Shape);
        _engine = new Engine();
        SyntheticLayer data = SyntheticLayer.Create(Tokens, k, n, seed: 1);
        float[] smooth = Smoothing.Compute(_engine, data.Calibration, data.Weight);
        var options = new LinearLayerOptions { Smooth = smooth, LowRank = LowRank.Decompose(_engine, data.Weight, smooth, Rank) };
        _layer = LinearLayer.Create(_engine, LinearScheme.W4A4, data.Weight, data.Bias, options);
        if (loraRank > 0)
        {
            // A LoRA's usual magnitudes: A ~ N(0, 1/K) as PEFT initialises it, B trained to a small update.
            var random = new GaussianRandom(loraRank);
            var lora = new LowRankUpdate(random.NextMatrix(loraRank, k, 1.0 / Math.Sqrt(k)), random.NextMatrix(n, loraRank, 0.01), scale: 1f);
            _layer.SetLowRankUpdates(_engine, [lora]);
        }

        _x = data.Activations;
        _y = new float[Tokens, n];
    }

    /// <summary>The layer job of <see cref="BenchmarkConfig"/> (2 warm-ups, 5 iterations), or the Dry job for a smoke run.</summary>
    private sealed class LoraConfig : ManualConfig
    {
        public LoraConfig()
        {
            AddJob(Environment.GetEnvironmentVariable("SVDQ_BENCH_SMOKE") == "1"
                ? Job.Dry.WithId("LoraSmoke")
                : Job.Default.WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(5).WithId("Lora"));
        }
    }
}
