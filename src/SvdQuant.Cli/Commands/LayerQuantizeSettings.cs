using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;

namespace SvdQuant.Cli.Commands;

/// <summary>Arguments of <c>svdquant layer quantize</c>.</summary>
// Descriptions are Spectre markup: [[ and ]] print brackets.
internal sealed class LayerQuantizeSettings : EngineSettings
{
    [CommandOption("--input <FILE>")]
    [Description("safetensors with weight [[N,K]], optional bias [[N]] and calib [[M,K]] (F32, F16 or BF16).")]
    public string Input { get; init; } = string.Empty;

    [CommandOption("--output <FILE>")]
    [Description("Where to write the quantized layer (Nunchaku tensor names).")]
    public string Output { get; init; } = string.Empty;

    [CommandOption("--method <METHOD>")]
    [Description("svdquant (default), smoothquant, lowrank, rtn or w4a16.")]
    [DefaultValue("svdquant")]
    public string Method { get; init; } = "svdquant";

    [CommandOption("--format <FORMAT>")]
    [Description("int4 (default) or nvfp4 (not with w4a16: AWQ layers hold INT4 weights).")]
    [DefaultValue("int4")]
    public string Format { get; init; } = "int4";

    [CommandOption("--rank <RANK>")]
    [Description("Rank of the low-rank branch, a multiple of 16.")]
    [DefaultValue(32)]
    public int Rank { get; init; } = 32;

    protected override ValidationResult ValidateOptions() =>
        string.IsNullOrEmpty(Input) || string.IsNullOrEmpty(Output)
            ? ValidationResult.Error("--input and --output are required")
            : ValidationResult.Success();
}
