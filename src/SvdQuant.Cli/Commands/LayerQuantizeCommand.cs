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
internal sealed class LayerQuantizeCommand : FileCommand<LayerQuantizeSettings>
{
    protected override int Run(LayerQuantizeSettings settings, CancellationToken cancellationToken)
    {
        QuantizerOptions? options = QuantizationArguments.Parse(settings.Method, settings.Format, settings.Rank, out string error);
        if (options is null)
        {
            return Fail(error);
        }

        CheckOutput(settings.Output, settings.Input);
        using var engine = new Engine(settings.NewEngineOptions());
        QuantizationReport report = Quantizer.QuantizeFile(engine, settings.Input, settings.Output, options);
        AnsiConsole.MarkupLineInterpolated(
            $"{settings.Output}: {options.Method} {options.Format}{(QuantizationArguments.HasBranch(options.Method) ? $", rank {settings.Rank}" : "")}, alpha {report.Alpha:0.00} beta {report.Beta:0.00}, calibration error {report.CalibrationError:0.0000} (search {report.Search.TotalSeconds:0.00} s, SVD {report.Svd.TotalSeconds:0.00} s)");
        return 0;
    }
}
