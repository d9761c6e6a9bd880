using System.Globalization;
using System.Linq;
using System.Threading;
using Spectre.Console;
using SvdQuant.Models;

namespace SvdQuant.Cli.Commands;

/// <summary>
/// <c>svdquant lora inspect FILE</c>: a LoRA file's key style, modules (and how many name FLUX.1
/// transformer modules), ranks, alphas (or that they default to the rank) and every key that belongs
/// to no module. A file the engine rejects is one line naming the problem and exit code 2.
/// </summary>
internal sealed class LoraInspectCommand : FileCommand<LoraInspectSettings>
{
    protected override int Run(LoraInspectSettings settings, CancellationToken cancellationToken)
    {
        using LoraFile lora = LoraFile.Load(settings.File);
        var grid = new Grid().AddColumn().AddColumn();
        grid.AddRow(new Text("File"), new Text(lora.Path));
        grid.AddRow(new Text("Key style"), new Text(Describe(lora.KeyStyle)));
        grid.AddRow(new Text("Modules"), new Text($"{lora.Modules.Count} ({lora.FluxModuleCount} FLUX.1 transformer modules by name)"));
        grid.AddRow(new Text("Rank"), new Text(Range(lora.MinRank, lora.MaxRank)));
        grid.AddRow(new Text("Alpha"), new Text(Alpha(lora)));
        grid.AddRow(new Text("Unused keys"), new Text(lora.UnusedKeys.Count.ToString(CultureInfo.InvariantCulture)));
        AnsiConsole.Write(grid);

        var modules = new Table().Title("Modules").AddColumn("Name").AddColumn(new TableColumn("Rank").RightAligned())
            .AddColumn(new TableColumn("Alpha").RightAligned()).AddColumn(new TableColumn("In").RightAligned())
            .AddColumn(new TableColumn("Out").RightAligned()).AddColumn("FLUX");
        foreach (LoraModule m in lora.Modules)
        {
            modules.AddRow(
                new Text(m.Name),
                new Text(m.Rank.ToString(CultureInfo.InvariantCulture)),
                new Text(m.AlphaGiven ? Number(m.Alpha) : "(rank)"),
                new Text(m.InFeatures.ToString(CultureInfo.InvariantCulture)),
                new Text(m.OutFeatures.ToString(CultureInfo.InvariantCulture)),
                new Text(m.IsFluxModule ? "yes" : "no"));
        }

        AnsiConsole.Write(modules);
        if (lora.UnusedKeys.Count > 0)
        {
            AnsiConsole.WriteLine($"Unused keys ({lora.UnusedKeys.Count}):");
            foreach (string key in lora.UnusedKeys)
            {
                AnsiConsole.WriteLine($"  {key}");
            }
        }

        return 0;
    }

    private static string Describe(LoraKeyStyle style) => style switch
    {
        LoraKeyStyle.Diffusers => "diffusers / PEFT (lora_A / lora_B)",
        LoraKeyStyle.Kohya => "kohya (lora_unet_..., lora_down / lora_up)",
        LoraKeyStyle.Bfl => "Black Forest Labs (double_blocks / single_blocks)",
        _ => style.ToString(),
    };

    // The file's alphas, and how many modules have none (their alpha is their rank).
    private static string Alpha(LoraFile lora)
    {
        int missing = lora.MissingAlphaCount;
        if (missing == lora.Modules.Count)
        {
            return $"none in the file: defaults to rank (all {missing} modules)";
        }

        float[] given = lora.Modules.Where(m => m.AlphaGiven).Select(m => m.Alpha).ToArray();
        string values = given.Min() == given.Max() ? Number(given[0]) : $"{Number(given.Min())} to {Number(given.Max())}";
        return missing == 0 ? values : $"{values}; defaults to rank in {missing} of {lora.Modules.Count} modules";
    }

    private static string Range(int min, int max) =>
        min == max ? min.ToString(CultureInfo.InvariantCulture) : $"{min} to {max}";

    private static string Number(float value) => value.ToString("0.####", CultureInfo.InvariantCulture);
}
