using System;
using System.Globalization;
using System.IO;
using System.Linq;

namespace SvdQuant.Benchmarks;

/// <summary>
/// The benchmark process's resident memory from /proc/self/status (Linux; -1 elsewhere). BenchmarkDotNet
/// runs each case in its own process, so a peak is that case's.
/// </summary>
internal static class ResidentMemory
{
    private const string Status = "/proc/self/status";

    /// <summary>VmHWM: the most resident memory the process had (since the last <see cref="RestartPeak"/>), in MiB.</summary>
    public static long PeakMiB => FieldMiB("VmHWM:");

    /// <summary>VmRSS: resident memory now, in MiB.</summary>
    public static long CurrentMiB => FieldMiB("VmRSS:");

    /// <summary>Restarts the peak from the current resident size (Linux: writing 5 to clear_refs); false where that is not possible.</summary>
    public static bool RestartPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static long FieldMiB(string field)
    {
        if (!File.Exists(Status))
        {
            return -1;
        }

        string? line = File.ReadLines(Status).FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
        // "VmHWM:\t 1956 kB": a tab, then the number right-aligned in 8 columns (none left from 10^7 kB, about 9.5 GiB, on).
        return line is null ? -1 : long.Parse(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
    }
}
