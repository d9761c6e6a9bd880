using System;
using System.Collections.Generic;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using SvdQuant.Cli.Demo;
using SvdQuant.Generation;
using SvdQuant.Models;

namespace SvdQuant.Benchmarks;

/// <summary>
/// Seconds per sampling step (issue 14): <see cref="FluxGenerator"/> running Euler over the
/// synthetic FLUX.1-width model of <see cref="FluxBlockBenchmarks"/> (one double-stream and one
/// single-stream block, the same cached files) for a 256 x 256 image (256 image tokens, 128 text
/// tokens), in each precision, and the SVDQuant model again with the first-block cache at
/// Nunchaku's FLUX.1 default threshold 0.12, also over <see cref="LongSteps"/> steps with and without
/// the cache, and over <see cref="LongSteps"/> steps at a threshold measured on this model (the median
/// relative change of the first block's residual between consecutive steps without the cache), which
/// shows what skipping saves where Nunchaku's default skips nothing. Every call is a whole run (noise, schedule, sampler; no preview); the reported time is
/// per step.
/// </summary>
[Config(typeof(GenerationConfig))]
public class GenerationBenchmarks
{
    /// <summary>Sampling steps per run.</summary>
    public const int Steps = 8;

    /// <summary>Steps of the cache comparison: FLUX.1-dev's default, where consecutive steps differ less.</summary>
    public const int LongSteps = 28;

    /// <summary>First-block cache threshold of the cached row (Nunchaku's default for FLUX.1).</summary>
    public const float CacheThreshold = 0.12f;

    private const int ImageSide = 256;
    private const int TextTokens = 128;

    private static readonly SyntheticFluxConfig Model = new(Layers: 1, SingleLayers: 1, JointAttentionDim: 256, PooledProjectionDim: 256, GuidanceEmbeds: true);

    private Engine _engine = null!;
    private FluxTransformer _model = null!;
    private FluxGenerator _generator = null!;
    private GenerationInputs _inputs = null!;

    [GlobalSetup(Target = nameof(Float))]
    public void SetupFloat() => Load(_ => SyntheticFlux.Folder(Model), LinearScheme.Float, 0);

    [GlobalSetup(Target = nameof(W4A16))]
    public void SetupW4A16() => Load(_ => SyntheticFlux.Folder(Model), LinearScheme.W4A16, 0);

    [GlobalSetup(Target = nameof(SvdQuant))]
    public void SetupSvdQuant() => Load(engine => SyntheticFlux.SvdQuantFile(engine, Model, FluxBlockBenchmarks.Rank), LinearScheme.Float, 0);

    [GlobalSetup(Target = nameof(SvdQuantCached))]
    public void SetupSvdQuantCached() =>
        Load(engine => SyntheticFlux.SvdQuantFile(engine, Model, FluxBlockBenchmarks.Rank), LinearScheme.Float, CacheThreshold);

    [GlobalSetup(Target = nameof(SvdQuantLong))]
    public void SetupSvdQuantLong() =>
        Load(engine => SyntheticFlux.SvdQuantFile(engine, Model, FluxBlockBenchmarks.Rank), LinearScheme.Float, 0, LongSteps);

    [GlobalSetup(Target = nameof(SvdQuantLongCached))]
    public void SetupSvdQuantLongCached() =>
        Load(engine => SyntheticFlux.SvdQuantFile(engine, Model, FluxBlockBenchmarks.Rank), LinearScheme.Float, CacheThreshold, LongSteps);

    [GlobalSetup(Target = nameof(SvdQuantLongCachedAtMedianChange))]
    public void SetupSvdQuantLongCachedAtMedianChange()
    {
        float threshold = MedianFirstBlockChange();
        Load(engine => SyntheticFlux.SvdQuantFile(engine, Model, FluxBlockBenchmarks.Rank), LinearScheme.Float, threshold, LongSteps);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _generator.Dispose();
        _model.Dispose();
        _engine.Dispose();
    }

    [Benchmark(Description = "float", OperationsPerInvoke = Steps)]
    public GenerationResult Float() => _generator.Generate(_engine, _inputs);

    [Benchmark(Baseline = true, Description = "W4A16", OperationsPerInvoke = Steps)]
    public GenerationResult W4A16() => _generator.Generate(_engine, _inputs);

    [Benchmark(Description = "W4A4 SVDQuant r32", OperationsPerInvoke = Steps)]
    public GenerationResult SvdQuant() => _generator.Generate(_engine, _inputs);

    [Benchmark(Description = "W4A4 SVDQuant r32, first-block cache 0.12", OperationsPerInvoke = Steps)]
    public GenerationResult SvdQuantCached() => _generator.Generate(_engine, _inputs);

    [Benchmark(Description = "W4A4 SVDQuant r32, 28 steps", OperationsPerInvoke = LongSteps)]
    public GenerationResult SvdQuantLong() => _generator.Generate(_engine, _inputs);

    [Benchmark(Description = "W4A4 SVDQuant r32, 28 steps, first-block cache 0.12", OperationsPerInvoke = LongSteps)]
    public GenerationResult SvdQuantLongCached() => _generator.Generate(_engine, _inputs);

    [Benchmark(Description = "W4A4 SVDQuant r32, 28 steps, first-block cache at the median change", OperationsPerInvoke = LongSteps)]
    public GenerationResult SvdQuantLongCachedAtMedianChange() => _generator.Generate(_engine, _inputs);

    // The engine logs each step's relative change of the first block's residual at debug level; a run
    // without the cache (threshold 0) gives the changes this model has.
    private static float MedianFirstBlockChange()
    {
        var changes = new List<float>();
        const string Prefix = "first-block cache: relative change ";
        using var engine = new Engine(new EngineOptions
        {
            LogLevel = LogLevel.Debug,
            Log = (_, message) =>
            {
                if (message.StartsWith(Prefix, StringComparison.Ordinal))
                    changes.Add(float.Parse(message.AsSpan(Prefix.Length, message.IndexOf(' ', Prefix.Length) - Prefix.Length), CultureInfo.InvariantCulture));
            },
        });
        using var model = FluxTransformer.Load(engine, SyntheticFlux.SvdQuantFile(engine, Model, FluxBlockBenchmarks.Rank));
        using var generator = FluxGenerator.Create(model, Options(LongSteps, 0));
        generator.Generate(engine, Inputs());
        changes.Sort();
        float median = changes[changes.Count / 2];
        Console.WriteLine($"// first-block residual changes without the cache over {LongSteps} steps: min {changes[0]:F4}, median {median:F4}, max {changes[^1]:F4}");
        return median;
    }

    private static GenerationOptions Options(int steps, float cacheThreshold) => new()
    {
        Width = ImageSide,
        Height = ImageSide,
        Steps = steps,
        CacheThreshold = cacheThreshold,
        Seed = 1,
    };

    private static GenerationInputs Inputs()
    {
        FluxInputs text = SyntheticFlux.Inputs(Model, grid: 1, TextTokens);
        return new GenerationInputs(new TextConditioning(text.EncoderHiddenStates, TextTokens, text.PooledProjections));
    }

    // The precision applies to float checkpoints; a quantized file's layers run as stored.
    private void Load(Func<Engine, string> path, LinearScheme scheme, float cacheThreshold, int steps = Steps)
    {
        _engine = new Engine();
        _model = FluxTransformer.Load(_engine, path(_engine), new FluxLoadOptions { BlockScheme = scheme });
        _generator = FluxGenerator.Create(_model, Options(steps, cacheThreshold));
        _inputs = Inputs();

        // What the cache skips is a property of the model and schedule, not of timing: say it once.
        GenerationResult probe = _generator.Generate(_engine, _inputs);
        Console.WriteLine($"// {scheme} {path(_engine)}: {probe.Steps} steps, {probe.Evaluations} transformer forwards, {probe.CachedEvaluations} cut short by the first-block cache (threshold {cacheThreshold})");
    }

    /// <summary>One run takes seconds to tens of seconds: one warm-up and three measured runs.</summary>
    private sealed class GenerationConfig : ManualConfig
    {
        public GenerationConfig()
        {
            AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(3).WithInvocationCount(1).WithUnrollFactor(1).WithId("Generation"));
        }
    }
}
