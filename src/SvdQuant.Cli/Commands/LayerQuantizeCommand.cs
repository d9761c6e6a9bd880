using System;
using System.Threading;
using Spectre.Console;
using Spectre.Console.Cli;
using SvdQuant.Models;
using SvdQuant.Quantization;

namespace SvdQuant.Cli.Commands;

/// <summary>
/// <c>svdquant layer quantize</c>: one layer file in, its quantized form out. Bad input is one
/// line naming the tensor, exit code 2, and no output file.
/// </summary>
internal sealed class LayerQuantizeCommand : Command<LayerQuantizeSettings>
{
    public override int Execute(CommandContext context, LayerQuantizeSettings settings, CancellationToken cancellationToken)
    {
        QuantizationMethod? method = settings.Method.ToLowerInvariant() switch
        {
            "svdquant" => QuantizationMethod.SvdQuant,
            "smoothquant" => QuantizationMethod.SmoothQuant,
            "lowrank" => QuantizationMethod.LowRank,
            "rtn" => QuantizationMethod.Rtn,
            "w4a16" => QuantizationMethod.W4A16,
            _ => null,
        };
        WeightFormat? format = settings.Format.ToLowerInvariant() switch
        {
            "int4" => WeightFormat.Int4,
            "nvfp4" => WeightFormat.Nvfp4,
            _ => null,
        };
        if (method is null || format is null)
        {
            Console.Error.WriteLine(method is null
                ? $"svdquant: --method {settings.Method}: expected svdquant, smoothquant, lowrank, rtn or w4a16"
                : $"svdquant: --format {settings.Format}: expected int4 or nvfp4");
            return 2;
        }

        try
        {
            using var engine = new Engine();
            QuantizationReport report = Quantizer.QuantizeFile(
                engine, settings.Input, settings.Output, new QuantizerOptions { Method = method.Value, Format = format.Value, Rank = settings.Rank });
            AnsiConsole.MarkupLineInterpolated(
                $"{settings.Output}: {method} {format}{(method is QuantizationMethod.LowRank or QuantizationMethod.SvdQuant ? $", rank {settings.Rank}" : "")}, alpha {report.Alpha:0.00} beta {report.Beta:0.00}, calibration error {report.CalibrationError:0.0000} (search {report.Search.TotalSeconds:0.00} s, SVD {report.Svd.TotalSeconds:0.00} s)");
            return 0;
        }
        catch (SvdQuantException e) when (e.Status is not (StatusCode.OutOfMemory or StatusCode.Internal))
        {
            Console.Error.WriteLine($"svdquant: {e.Message}");
            return 2;
        }
    }
}
