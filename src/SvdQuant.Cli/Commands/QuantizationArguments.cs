using SvdQuant.Models;
using SvdQuant.Quantization;

namespace SvdQuant.Cli.Commands;

/// <summary>The <c>--method</c> and <c>--format</c> words every quantize command accepts.</summary>
internal static class QuantizationArguments
{
    /// <summary>Options for the words, or null with the one-line reason in <paramref name="error"/>.</summary>
    public static QuantizerOptions? Parse(string method, string format, int rank, out string error)
    {
        QuantizationMethod? m = method.ToLowerInvariant() switch
        {
            "svdquant" => QuantizationMethod.SvdQuant,
            "smoothquant" => QuantizationMethod.SmoothQuant,
            "lowrank" => QuantizationMethod.LowRank,
            "rtn" => QuantizationMethod.Rtn,
            "w4a16" => QuantizationMethod.W4A16,
            _ => null,
        };
        NumberFormat? f = format.ToLowerInvariant() switch
        {
            "int4" => NumberFormat.Int4,
            "nvfp4" => NumberFormat.Nvfp4,
            _ => null,
        };
        error = m is null ? $"--method {method}: expected svdquant, smoothquant, lowrank, rtn or w4a16"
            : f is null ? $"--format {format}: expected int4 or nvfp4"
            : string.Empty;
        return m is null || f is null ? null : new QuantizerOptions { Method = m.Value, Format = f.Value, Rank = rank };
    }

    /// <summary>True for the methods with a low-rank branch, whose rank is worth printing.</summary>
    public static bool HasBranch(QuantizationMethod method) =>
        method is QuantizationMethod.LowRank or QuantizationMethod.SvdQuant;
}
