using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace SvdQuant.Benchmarks;

/// <summary>
/// Achieved G op/s of a linear layer benchmark, counting 2 * M * N * K operations per call
/// (one multiply and one add per weight and token), whatever the precision.
/// </summary>
public sealed class ThroughputColumn : IColumn
{
    public string Id => nameof(ThroughputColumn);
    public string ColumnName => "G op/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "2 M N K / mean time, in 10^9 operations per second";

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
        GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        double? meanNanoseconds = summary[benchmarkCase]?.ResultStatistics?.Mean;
        if (meanNanoseconds is null || benchmarkCase.Descriptor.Type != typeof(LinearForwardBenchmarks))
        {
            return "-";  // no result, or not a linear-layer benchmark (the joined summary lists every class)
        }

        int tokens = (int)benchmarkCase.Parameters[nameof(LinearForwardBenchmarks.Tokens)];
        (int k, int n) = LinearForwardBenchmarks.ParseShape((string)benchmarkCase.Parameters[nameof(LinearForwardBenchmarks.Shape)]);
        double operations = 2.0 * tokens * k * n;
        return (operations / meanNanoseconds.Value).ToString("F0", CultureInfo.InvariantCulture);
    }
}
