using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;

namespace SvdQuant.Cli.Commands;

/// <summary>Arguments of <c>svdquant layer run</c>.</summary>
// Descriptions are Spectre markup: [[ and ]] print brackets.
internal sealed class LayerRunSettings : EngineSettings
{
    [CommandOption("--layer <FILE>")]
    [Description("A layer written by `svdquant layer quantize`.")]
    public string Layer { get; init; } = string.Empty;

    [CommandOption("--input <FILE>")]
    [Description("safetensors with x [[T,K]].")]
    public string Input { get; init; } = string.Empty;

    [CommandOption("--output <FILE>")]
    [Description("Where to write y [[T,N]] as F32.")]
    public string Output { get; init; } = string.Empty;

    protected override ValidationResult ValidateOptions() =>
        string.IsNullOrEmpty(Layer) || string.IsNullOrEmpty(Input) || string.IsNullOrEmpty(Output)
            ? ValidationResult.Error("--layer, --input and --output are required")
            : ValidationResult.Success();
}
