using System;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using SvdQuant.Cli.Demo;
using SvdQuant.Generation;
using SvdQuant.Models;

namespace SvdQuant.Benchmarks;

/// <summary>
/// Seconds per picture of the whole prompt-to-image pipeline (issue 16) on a synthetic folder with
/// FLUX.1-schnell's widths and few blocks (<see cref="SyntheticPipelineConfig.FluxWidth"/>: CLIP-L
/// whole, one T5-XXL-shaped layer, one double- and one single-stream block at width 3072, FLUX.1's
/// VAE whole), 512 x 512 in schnell's 4 steps, with the transformer as its calibrated SVDQuant W4A4
/// file and as W4A16, and the prompt encoding alone; with VaeBenchmarks (the decode), TextEncoderBenchmarks
/// (a T5-XXL layer) and FluxBlockBenchmarks (a block), RESULTS.md projects the full model (24 T5 layers, 19 + 38 blocks).
/// </summary>
[Config(typeof(PipelineConfig))]
public class PipelineBenchmarks
{
    private const int Side = 512;
    private const string Prompt = "a photograph of a cat sitting on a red chair";

    private static readonly SyntheticPipelineConfig Model = SyntheticPipelineConfig.FluxWidth(1, 1, 1);

    private Engine _engine = null!;
    private FluxPipeline _pipeline = null!;
    private GenerationOptions _options = null!;

    [GlobalSetup(Targets = [nameof(SvdQuant), nameof(EncodePrompt)])]
    public void SetupSvdQuant() => Load(engine => new FluxPipelineOptions { TransformerFile = SyntheticFlux.SvdQuantFile(engine, Model.Transformer, FluxBlockBenchmarks.Rank) });

    [GlobalSetup(Target = nameof(W4A16))]
    public void SetupW4A16() => Load(_ => new FluxPipelineOptions { TransformerScheme = LinearScheme.W4A16 });

    [GlobalCleanup]
    public void Cleanup()
    {
        _pipeline.Dispose();
        _engine.Dispose();
    }

    [Benchmark(Baseline = true, Description = "picture, transformer W4A16")]
    public FluxPipelineResult W4A16() => _pipeline.Generate(Prompt, _options);

    [Benchmark(Description = "picture, transformer W4A4 SVDQuant r32")]
    public FluxPipelineResult SvdQuant() => _pipeline.Generate(Prompt, _options);

    [Benchmark(Description = "prompt encoding (CLIP-L, 1 T5-XXL layer)")]
    public TextConditioning EncodePrompt() => _pipeline.Encode(FluxPrompt.FromText(Prompt));

    private void Load(Func<Engine, FluxPipelineOptions> options)
    {
        _engine = new Engine();
        string folder = SyntheticPipeline.Cached(Model);
        _pipeline = FluxPipeline.Load(_engine, folder, options(_engine));
        _options = _pipeline.DefaultOptions();
        _options.Width = Side;
        _options.Height = Side;
        GenerationResult latents = _pipeline.Generate(Prompt, _options).Latents;  // loads every component once
        Console.WriteLine($"// {folder}: {latents.Steps} steps, {latents.Evaluations} transformer forwards per picture");
    }

    /// <summary>A picture takes seconds: one warm-up and three measured runs.</summary>
    private sealed class PipelineConfig : ManualConfig
    {
        public PipelineConfig()
        {
            AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(3).WithInvocationCount(1).WithUnrollFactor(1).WithId("Pipeline"));
        }
    }
}
