using System;
using System.Globalization;
using System.Linq;
using System.Threading;
using Spectre.Console;
using Spectre.Console.Cli;
using SvdQuant.Formats;

namespace SvdQuant.Cli.Commands;

/// <summary>
/// <c>svdquant inspect FILE</c>: the checkpoint's flavour, parameter count, size, metadata
/// and tensors. A file the engine rejects is one line on stderr and exit code 2.
/// </summary>
internal sealed class InspectCommand : Command<InspectSettings>
{
    private const int MetadataValueWidth = 100;

    public override int Execute(CommandContext context, InspectSettings settings, CancellationToken cancellationToken)
    {
        try
        {
            using SafeTensorsFile file = SafeTensorsFile.Open(settings.File);
            CheckpointInfo checkpoint = file.DetectFlavour();
            WriteSummary(file, checkpoint);
            WriteMetadata(file);
            WriteTensors(file, settings.Filter);
            return 0;
        }
        catch (SvdQuantException e) when (e.Status is StatusCode.Io or StatusCode.Format or StatusCode.DType)
        {
            Console.Error.WriteLine($"svdquant: {e.Message}");
            return 2;
        }
    }

    private static void WriteSummary(SafeTensorsFile file, CheckpointInfo checkpoint)
    {
        var grid = new Grid().AddColumn().AddColumn();
        grid.AddRow(new Text("File"), new Text(file.Path));
        grid.AddRow(new Text("Size on disk"), new Text($"{Bytes(file.FileSize)} ({file.FileSize:N0} bytes)"));
        grid.AddRow(new Text("Flavour"), new Text(Describe(checkpoint)));
        grid.AddRow(new Text("Parameters"), new Text($"{Count(checkpoint.ParameterCount)} ({checkpoint.ParameterCount:N0})"));
        if (checkpoint.W4A4Layers + checkpoint.W4A16Layers > 0)
        {
            // Parameters count packed 4-bit weights one per value, not per byte.
            grid.AddRow(
                new Text("Quantized layers"),
                new Text($"{checkpoint.W4A4Layers} W4A4 (low-rank branch rank {checkpoint.Rank}), {checkpoint.W4A16Layers} W4A16"));
        }

        grid.AddRow(new Text("Tensors"), new Text(file.Tensors.Count.ToString(CultureInfo.InvariantCulture)));
        AnsiConsole.Write(grid);
    }

    private static void WriteMetadata(SafeTensorsFile file)
    {
        if (file.Metadata.Count == 0)
        {
            AnsiConsole.MarkupLine("[grey]No metadata.[/]");
            return;
        }

        var table = new Table().Title("Metadata").AddColumn("Key").AddColumn("Value");
        foreach (var (key, value) in file.Metadata.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            string shown = value.Length <= MetadataValueWidth ? value
                : $"{value[..MetadataValueWidth]}... ({value.Length:N0} characters)";
            table.AddRow(new Text(key), new Text(shown.ReplaceLineEndings(" ")));
        }

        AnsiConsole.Write(table);
    }

    private static void WriteTensors(SafeTensorsFile file, string? filter)
    {
        var tensors = file.Tensors
            .Where(t => filter is null || t.Name.Contains(filter, StringComparison.Ordinal))
            .ToList();
        var table = new Table()
            .Title(filter is null ? "Tensors" : $"Tensors containing '{Markup.Escape(filter)}'")  // a title is markup; the filter is user text
            .AddColumn("Name")
            .AddColumn("DType")
            .AddColumn("Shape")
            .AddColumn(new TableColumn("Bytes").RightAligned());
        foreach (TensorInfo t in tensors)
        {
            table.AddRow(
                new Text(t.Name),
                new Text(t.DType.ToString()),
                new Text($"[{string.Join(", ", t.Shape)}]"),
                new Text(t.ByteSize.ToString("N0", CultureInfo.InvariantCulture)));
        }

        AnsiConsole.Write(table);
        long bytes = tensors.Sum(t => t.ByteSize);
        AnsiConsole.MarkupLineInterpolated($"[grey]{tensors.Count} tensors, {Bytes(bytes)} of tensor data.[/]");
    }

    private static string Describe(CheckpointInfo c) => c.Flavour switch
    {
        CheckpointFlavour.DiffusersFloat => "diffusers FLUX, float weights",
        CheckpointFlavour.NunchakuInt4V0 => "Nunchaku SVDQuant INT4, FLUX v0 names (qkv_proj, lora_down, smooth)",
        CheckpointFlavour.NunchakuNvfp4V0 => "Nunchaku SVDQuant NVFP4, FLUX v0 names (qkv_proj, lora_down, smooth)",
        CheckpointFlavour.NunchakuInt4Diffusers => "Nunchaku SVDQuant INT4, diffusers-style names (proj_down, smooth_factor)",
        CheckpointFlavour.NunchakuNvfp4Diffusers => "Nunchaku SVDQuant NVFP4, diffusers-style names (proj_down, smooth_factor)",
        CheckpointFlavour.SvdQuant =>
            $"SvdQuant.Interop, {(c.Format == Models.NumberFormat.Nvfp4 ? "NVFP4" : "INT4")} in Nunchaku's layout, {(c.Keys == CheckpointKeys.NunchakuV0 ? "FLUX v0" : "diffusers-style")} names",
        _ => "unknown (a valid safetensors file of no known model layout)",
    };

    private static string Bytes(long bytes)
    {
        string[] units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0 ? $"{bytes} bytes" : value.ToString("0.##", CultureInfo.InvariantCulture) + " " + units[unit];
    }

    private static string Count(long count) => count switch
    {
        >= 1_000_000_000 => (count / 1e9).ToString("0.##", CultureInfo.InvariantCulture) + " B",
        >= 1_000_000 => (count / 1e6).ToString("0.##", CultureInfo.InvariantCulture) + " M",
        >= 1_000 => (count / 1e3).ToString("0.##", CultureInfo.InvariantCulture) + " K",
        _ => count.ToString(CultureInfo.InvariantCulture),
    };
}
