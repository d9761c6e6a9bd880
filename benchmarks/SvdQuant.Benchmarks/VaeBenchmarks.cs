using System;
using System.Linq;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using SvdQuant.Cli.Demo;
using SvdQuant.Models;

namespace SvdQuant.Benchmarks;

/// <summary>
/// VAE decode (issue 16): FLUX.1's VAE config (16 latent channels, block_out_channels
/// [128, 256, 512, 512], 2 layers per block, 32 groups; random F32 weights, the folder cached in the temp
/// folder) decoding N(0, 1) latents into a 512 x 512 and a 1024 x 1024 image through the managed API,
/// in one pass (FLUX.1's default tile is 1024, so neither size tiles). Memory: BenchmarkDotNet's managed
/// allocations, and the benchmark process's peak resident set (weights, arena, image) printed at cleanup.
/// SVDQ_BENCH_SMOKE=1 runs BenchmarkDotNet's Dry job instead (one warm-up, one iteration): a smoke run.
/// </summary>
[Config(typeof(VaeConfig))]
public class VaeBenchmarks
{
    private Engine _engine = null!;
    private AutoencoderKL _vae = null!;
    private float[] _latents = null!;
    private long[] _shape = null!;

    /// <summary>The image side in pixels.</summary>
    [Params(512, 1024)]
    public int Side { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _engine = new Engine();
        _vae = AutoencoderKL.Load(_engine, SyntheticVae.CachedFolder(SyntheticVaeConfig.Flux1));
        int latentSide = Side / _vae.Info.Downscale;
        _shape = [1, _vae.Info.LatentChannels, latentSide, latentSide];
        var random = new GaussianRandom(Side);
        _latents = Enumerable.Range(0, _vae.Info.LatentChannels * latentSide * latentSide).Select(_ => (float)random.Next()).ToArray();
        Console.WriteLine($"// VAE: {_vae.Info.ParameterCount:N0} parameters, {_vae.Info.WeightBytes / (1 << 20)} MiB as fp32; after load: {ResidentMemory.PeakMiB} MiB peak RSS");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        // The process runs one Side only (BenchmarkDotNet's separate process per case), so this peak is that size's.
        Console.WriteLine($"// VAE decode {Side} x {Side}: {ResidentMemory.PeakMiB} MiB peak RSS of the process");
        _vae.Dispose();
        _engine.Dispose();
    }

    [Benchmark(Description = "VAE decode")]
    public float[] Decode() => _vae.Decode(_engine, _latents, _shape);

    /// <summary>One decode takes seconds: one warm-up and three measured runs, with managed allocations.</summary>
    private sealed class VaeConfig : ManualConfig
    {
        public VaeConfig()
        {
            Job job = Environment.GetEnvironmentVariable("SVDQ_BENCH_SMOKE") == "1"
                ? Job.Dry.WithId("VaeSmoke")
                : Job.Default.WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(3).WithInvocationCount(1).WithUnrollFactor(1).WithId("Vae");
            AddJob(job);
            AddDiagnoser(BenchmarkDotNet.Diagnosers.MemoryDiagnoser.Default);
        }
    }
}
