using System;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using SvdQuant.Cli.Demo;
using SvdQuant.Models;

namespace SvdQuant.Benchmarks;

/// <summary>
/// One FLUX.1 forward through one double-stream and one single-stream block at FLUX.1's width
/// (3072, 24 heads) on a 512px image's tokens (32 x 32 latent = 1024 image tokens, 512 text
/// tokens, batch 1), in each precision, reported as a ratio to W4A16 (issue 6). The text widths
/// are 256 instead of FLUX.1-dev's 4096 / 768 so the embedders are negligible next to the blocks:
/// the context embedder drops from 6.4 G to 0.4 G multiply-adds (the blocks do ~377 G), and the
/// other embedders read one vector per image or 64 channels per token, so everything outside the
/// blocks is ~0.2% of the work. Everything else is FLUX.1-dev's. The models are cached (see
/// <see cref="SyntheticFlux"/>); the first run generates them and quantizes the SVDQuant file.
/// </summary>
[Config(typeof(FluxBlockConfig))]
public class FluxBlockBenchmarks
{
    /// <summary>r of the SVDQuant branch.</summary>
    public const int Rank = 32;

    private const int LatentGrid = 32;
    private const int TextTokens = 512;

    private static readonly SyntheticFluxConfig Model = new(Layers: 1, SingleLayers: 1, JointAttentionDim: 256, PooledProjectionDim: 256, GuidanceEmbeds: true);

    private Engine _engine = null!;
    private FluxTransformer _model = null!;
    private FluxInputs _inputs = null!;

    [GlobalSetup(Target = nameof(Float))]
    public void SetupFloat() => Load(_ => SyntheticFlux.Folder(Model), LinearScheme.Float);

    [GlobalSetup(Target = nameof(W4A16))]
    public void SetupW4A16() => Load(_ => SyntheticFlux.Folder(Model), LinearScheme.W4A16);

    [GlobalSetup(Target = nameof(W4A4Naive))]
    public void SetupW4A4Naive() => Load(_ => SyntheticFlux.Folder(Model), LinearScheme.W4A4);

    [GlobalSetup(Target = nameof(SvdQuant))]
    public void SetupSvdQuant() => Load(engine => SyntheticFlux.SvdQuantFile(engine, Model, Rank), LinearScheme.Float);

    [GlobalCleanup]
    public void Cleanup()
    {
        _model.Dispose();
        _engine.Dispose();
    }

    [Benchmark(Description = "float")]
    public float[] Float() => _model.Forward(_engine, _inputs);

    [Benchmark(Baseline = true, Description = "W4A16")]
    public float[] W4A16() => _model.Forward(_engine, _inputs);

    [Benchmark(Description = "W4A4 naive (RTN at load)")]
    public float[] W4A4Naive() => _model.Forward(_engine, _inputs);

    [Benchmark(Description = "W4A4 SVDQuant r32 (calibrated file)")]
    public float[] SvdQuant() => _model.Forward(_engine, _inputs);

    // The precision applies to float checkpoints; a quantized file's layers run as stored.
    private void Load(Func<Engine, string> path, LinearScheme precision)
    {
        _engine = new Engine();
        _model = FluxTransformer.Load(_engine, path(_engine), new FluxLoadOptions { BlockScheme = precision });
        _inputs = SyntheticFlux.Inputs(Model, LatentGrid, TextTokens);
    }

    /// <summary>
    /// One forward takes seconds: one warm-up and five measured iterations (the shared VM drifts by
    /// 10-20% over minutes, which more iterations of one case would not average out).
    /// </summary>
    private sealed class FluxBlockConfig : ManualConfig
    {
        public FluxBlockConfig()
        {
            AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(5).WithId("FluxBlock"));
        }
    }
}
