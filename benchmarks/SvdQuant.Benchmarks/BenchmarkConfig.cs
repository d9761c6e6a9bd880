using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;

namespace SvdQuant.Benchmarks;

/// <summary>
/// Few, long iterations: one call at M = 4096 takes up to seconds, and the layers are large,
/// so the default job would run for hours on a 2-core machine without gaining precision.
/// </summary>
public sealed class BenchmarkConfig : ManualConfig
{
    public BenchmarkConfig()
    {
        AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(5).WithId("Layer"));
        AddColumn(new ThroughputColumn());
        WithOptions(ConfigOptions.JoinSummary);
    }
}
