using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Runtime;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using SvdQuant.Cli.Demo;
using SvdQuant.Models;

namespace SvdQuant.Benchmarks;

/// <summary>
/// One transformer step (one <see cref="FluxTransformer.Forward"/>) of a FLUX.1-schnell-size transformer
/// (issue 20 item 3): FLUX.1-schnell's config (19 double + 38 single blocks, width 3072 = 24 heads x 128,
/// T5 width 4096, pooled 768, no guidance embedding) at 512 x 512 (1024 image + 256 text tokens) and
/// 1024 x 1024 (4096 + 512), batch 1, with the blocks' weights in
/// <list type="bullet">
/// <item>W4A4: Nunchaku's SVDQuant INT4 layers, rank 32, AWQ W4A16 adaLN (a published Nunchaku file's layout);</item>
/// <item>W4A16: every block linear AWQ INT4, group 64 (the baseline);</item>
/// <item>BF16: float weights as FLUX.1 ships them. The whole model's 24 GB does not fit a 24 GiB machine, so
///   this row runs a model of <see cref="Bf16Layers"/> double + <see cref="Bf16SingleLayers"/> single blocks
///   (the full model's 1 : 2) and the <c>s/step (19+38)</c> column scales its time by 19 / 2: every block's
///   work is scaled exactly, the embedders and final layer's (below 0.1% of a step) are counted 9.5 times.</item>
/// </list>
/// The 4-bit checkpoints come from <see cref="RandomFluxCheckpoint"/> (random bytes in the stored form),
/// the BF16 one from <see cref="SyntheticFlux"/>; all are cached in the temp folder (first run: ~7 GB
/// each for W4A4 and W4A16, streamed to disk; ~2.6 GB for BF16, written through memory).
/// Attention: BF16 in every row (Auto's choice for 4-bit blocks, on AVX512_BF16 dot products where the
/// CPU has them), so the rows differ by their weights only.
/// Threads: the engine's worker count. Each step's output is checked to be finite (a few microseconds).
/// Memory: each case prints the resident set before and after loading, the peak while loading and the
/// peak over the steps (VmHWM restarted after loading), and the weights' bytes; for BF16 also the full
/// model's weights and the peak that follows (measured peak + the weights it lacks).
/// Sizes and threads are parameters: <c>SVDQ_FLUX_SIDES</c> (default <c>512,1024</c>) and
/// <c>SVDQ_FLUX_THREADS</c> (default <c>1,2</c>) pick them, <c>--filter '*FluxStep*.W4A4'</c> the weights;
/// <c>--warmupCount 0 --iterationCount 1</c> runs one step per case instead of three.
/// SVDQ_BENCH_SMOKE=1 runs a tiny model (width 256: 2 heads; 2 + 4 blocks, BF16 1 + 2) on BenchmarkDotNet's
/// Dry job: a check that every case loads and runs.
/// </summary>
[Config(typeof(FluxStepConfig))]
public class FluxStepBenchmarks
{
    /// <summary>Double blocks of the BF16 row's model.</summary>
    public const int Bf16Layers = 2;

    /// <summary>Single blocks of the BF16 row's model.</summary>
    public const int Bf16SingleLayers = 4;

    private static readonly bool Smoke = Environment.GetEnvironmentVariable("SVDQ_BENCH_SMOKE") == "1";

    private Engine _engine = null!;
    private FluxTransformer _model = null!;
    private FluxInputs _inputs = null!;
    private int _steps;

    /// <summary>The FLUX.1-schnell-size model (a tiny one in a smoke run).</summary>
    internal static SyntheticFluxConfig Full => Smoke
        ? SyntheticFluxConfig.Flux1Schnell(2, 4) with { Heads = 2 }
        : SyntheticFluxConfig.Flux1Schnell(19, 38);

    /// <summary>The BF16 row's model: the full model's config with fewer blocks.</summary>
    internal static SyntheticFluxConfig Bf16Model => Smoke
        ? Full with { Layers = 1, SingleLayers = 2 }
        : Full with { Layers = Bf16Layers, SingleLayers = Bf16SingleLayers };

    /// <summary>Image side in pixels.</summary>
    [ParamsSource(nameof(Sides))]
    public int Side { get; set; }

    /// <summary>Engine worker threads.</summary>
    [ParamsSource(nameof(ThreadCounts))]
    public int Threads { get; set; }

    /// <summary>SVDQ_FLUX_SIDES, else 512 and 1024.</summary>
    public static IEnumerable<int> Sides => Numbers("SVDQ_FLUX_SIDES", "512,1024");

    /// <summary>SVDQ_FLUX_THREADS, else 1 and 2.</summary>
    public static IEnumerable<int> ThreadCounts => Numbers("SVDQ_FLUX_THREADS", "1,2");

    /// <summary>T5 tokens: FLUX.1-schnell's 256 at 512 x 512, 512 at 1024 x 1024.</summary>
    public static int TextTokens(int side) => side >= 1024 ? 512 : 256;

    [GlobalSetup(Target = nameof(W4A4))]
    public void SetupW4A4() => Load(() => RandomFluxCheckpoint.CachedFile(Full, RandomFluxWeights.W4A4), Full);

    [GlobalSetup(Target = nameof(W4A16))]
    public void SetupW4A16() => Load(() => RandomFluxCheckpoint.CachedFile(Full, RandomFluxWeights.W4A16), Full);

    [GlobalSetup(Target = nameof(Bf16))]
    public void SetupBf16() => Load(() => SyntheticFlux.Folder(Bf16Model), Bf16Model);

    [GlobalCleanup]
    public void Cleanup()
    {
        long weights = _model.Info.WeightBytes, peak = ResidentMemory.PeakMiB;
        Console.WriteLine(Invariant($"// {Side} x {Side}, {Threads} thread(s), {_model.Info.BlockScheme}: {_steps} steps in this process; peak resident over the steps {peak} MiB, weights {weights / 1e9:F3} GB"));
        if (_model.Info.Layers != Full.Layers)
        {
            // Only the weights grow with the blocks: activations and the arena depend on the tokens.
            long fullWeights = 2 * RandomFluxCheckpoint.ParameterCount(Full);
            Console.WriteLine(Invariant($"// BF16 projected to {Full.Layers} + {Full.SingleLayers} blocks: weights 2 x {RandomFluxCheckpoint.ParameterCount(Full) / 1e9:F3} B parameters = {fullWeights / 1e9:F3} GB, peak resident ~ {peak + ((fullWeights - weights) >> 20)} MiB"));
        }

        _model.Dispose();
        _engine.Dispose();
    }

    [Benchmark(Description = "W4A4 SVDQuant INT4 r32")]
    public float[] W4A4() => Step();

    [Benchmark(Baseline = true, Description = "W4A16 (AWQ INT4 g64)")]
    public float[] W4A16() => Step();

    [Benchmark(Description = "BF16 weights (fewer blocks: see s/step)")]
    public float[] Bf16() => Step();

    private float[] Step()
    {
        float[] output = _model.Forward(_engine, _inputs);
        _steps++;
        if (!output.All(float.IsFinite))
        {
            throw new InvalidOperationException("the step's output is not finite: the random weights' magnitudes overflow");
        }

        return output;
    }

    private void Load(Func<string> checkpoint, SyntheticFluxConfig config)
    {
        string path = checkpoint();  // written on first use; then its memory is given back before measuring
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect();
        _engine = new Engine(new EngineOptions { Threads = Threads });
        long before = ResidentMemory.CurrentMiB;
        bool restarted = ResidentMemory.RestartPeak();
        var clock = Stopwatch.StartNew();
        // Every row's attention in BF16 (what Auto gives the 4-bit rows), so the rows differ by their weights only.
        _model = FluxTransformer.Load(_engine, path, new FluxLoadOptions { AttentionPrecision = AttentionPrecision.Bf16 });
        double seconds = clock.Elapsed.TotalSeconds;
        FluxInfo info = _model.Info;
        Console.WriteLine(Invariant(
            $"// {path}: {info.Layers} + {info.SingleLayers} blocks, width {info.Heads * info.HeadDim}, {info.BlockScheme} {info.BlockFormat}, {info.AttentionPrecision} attention, {info.ParameterCount / 1e9:F3} B parameters, weights {info.WeightBytes / 1e9:F3} GB; loaded in {seconds:F1} s with {_engine.ThreadCount} thread(s) at CPU level {_engine.CpuLevel}"));
        Console.WriteLine(Invariant(
            $"// resident {before} MiB before loading, {ResidentMemory.CurrentMiB} MiB after, peak {(restarted ? ResidentMemory.PeakMiB.ToString(CultureInfo.InvariantCulture) : "(not measurable)")} MiB while loading"));
        _inputs = SyntheticFlux.Inputs(config, Side / 16, TextTokens(Side));
        ResidentMemory.RestartPeak();
    }

    private static IEnumerable<int> Numbers(string variable, string fallback) =>
        (Environment.GetEnvironmentVariable(variable) ?? fallback)
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(v => int.Parse(v, CultureInfo.InvariantCulture));

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// A step takes 10 s to 10 min: one warm-up and two measured steps, no pilot (Monitoring), one
    /// process per case; SVDQ_BENCH_SMOKE=1: BenchmarkDotNet's Dry job.
    /// </summary>
    private sealed class FluxStepConfig : ManualConfig
    {
        public FluxStepConfig()
        {
            AddJob(Smoke
                ? Job.Dry.WithId("FluxStepSmoke")
                : Job.Default.WithStrategy(RunStrategy.Monitoring).WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(2)
                    .WithInvocationCount(1).WithUnrollFactor(1).WithId("FluxStep"));
            AddColumn(new FullStepColumn());
        }
    }

    /// <summary>Seconds per step of the full model: the mean, scaled by 19 / 2 for the BF16 row's 2 + 4 blocks.</summary>
    private sealed class FullStepColumn : IColumn
    {
        public string Id => nameof(FullStepColumn);
        public string ColumnName => $"s/step ({Full.Layers}+{Full.SingleLayers})";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => $"seconds per step of the full model; the BF16 row's {Bf16Model.Layers} + {Bf16Model.SingleLayers} block model scaled by {Full.Layers} / {Bf16Model.Layers}";

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public bool IsAvailable(Summary summary) => true;

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            double? meanNanoseconds = summary[benchmarkCase]?.ResultStatistics?.Mean;
            if (meanNanoseconds is null || benchmarkCase.Descriptor.Type != typeof(FluxStepBenchmarks))
            {
                return "-";
            }

            double scale = benchmarkCase.Descriptor.WorkloadMethod.Name == nameof(Bf16) ? (double)Full.Layers / Bf16Model.Layers : 1;
            return (meanNanoseconds.Value * scale / 1e9).ToString("F1", CultureInfo.InvariantCulture);
        }
    }
}
