using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;

namespace SvdQuant.Cli.Commands;

/// <summary>Arguments of <c>svdquant quantize</c>.</summary>
internal sealed class QuantizeSettings : EngineSettings
{
    [CommandOption("--model <DIR>")]
    [Description("A float diffusers FLUX folder: config.json and *.safetensors weights; or a pipeline folder, whose transformer/ is quantized.")]
    public string Model { get; init; } = string.Empty;

    [CommandOption("--output <FILE>")]
    [Description("Where to write the Nunchaku-style quantized checkpoint (one safetensors file).")]
    public string Output { get; init; } = string.Empty;

    [CommandOption("--format <FORMAT>")]
    [Description("int4 (default) or nvfp4.")]
    [DefaultValue("int4")]
    public string Format { get; init; } = "int4";

    [CommandOption("--rank <RANK>")]
    [Description("Rank of the low-rank branch, a multiple of 16.")]
    [DefaultValue(32)]
    public int Rank { get; init; } = 32;

    [CommandOption("--method <METHOD>")]
    [Description("svdquant (default), smoothquant, lowrank or rtn.")]
    [DefaultValue("svdquant")]
    public string Method { get; init; } = "svdquant";

    [CommandOption("--calib <FILE>")]
    [Description("Calibration inputs (the keys of `flux forward --inputs`; each batch item is a sample). Default: 4 synthetic samples, which calibrate worse than recorded prompts.")]
    public string? Calib { get; init; }

    [CommandOption("--lora <FILE>")]
    [Description(LoraArguments.Description)]
    public string[]? Loras { get; init; }

    protected override ValidationResult ValidateOptions() =>
        string.IsNullOrEmpty(Model) || string.IsNullOrEmpty(Output)
            ? ValidationResult.Error("--model and --output are required")
            : ValidationResult.Success();
}
