using System.ComponentModel;
using Spectre.Console.Cli;

namespace SvdQuant.Cli.Commands;

/// <summary>Arguments of <c>svdquant flux forward</c>.</summary>
// Descriptions are Spectre markup: [[ and ]] print brackets.
internal sealed class FluxForwardSettings : EngineSettings
{
    [CommandOption("--model <PATH>")]
    [Description("A diffusers FLUX folder (config.json and *.safetensors weights; or a pipeline folder, whose transformer/ is used) or a quantized checkpoint file (Nunchaku's or `svdquant quantize`'s).")]
    public string Model { get; init; } = string.Empty;

    [CommandOption("--inputs <FILE>")]
    [Description("safetensors with hidden_states [[B,S_img,C]], encoder_hidden_states [[B,S_txt,D]], pooled_projections [[B,P]], timestep [[B]] (t/1000), optional guidance [[B]], img_ids [[S_img,3]], txt_ids [[S_txt,3]].")]
    public string Inputs { get; init; } = string.Empty;

    [CommandOption("--output <FILE>")]
    [Description("Where to write `output` [[B,S_img,C_out]] as F32.")]
    public string Output { get; init; } = string.Empty;

    [CommandOption("--precision <PRECISION>")]
    [Description("Block linears of a diffusers folder: Float (default), W4A16 or W4A4 (round-to-nearest at load); a quantized file runs as stored.")]
    [DefaultValue(Models.LinearScheme.Float)]
    public Models.LinearScheme Scheme { get; init; } = Models.LinearScheme.Float;

    [CommandOption("--attention <PRECISION>")]
    [Description("The transformer's attention: Auto (default: Bf16 for 4-bit blocks, Fp32 for float ones), Fp32, or Bf16 (q, k, v and the probabilities rounded to BF16 for AVX512_BF16 dot products; fp32 sums).")]
    [DefaultValue(Models.AttentionPrecision.Auto)]
    public Models.AttentionPrecision Attention { get; init; } = Models.AttentionPrecision.Auto;

    [CommandOption("--lora <FILE>")]
    [Description(LoraArguments.Description)]
    public string[]? Loras { get; init; }

    protected override Spectre.Console.ValidationResult ValidateOptions()
    {
        if (string.IsNullOrEmpty(Model) || string.IsNullOrEmpty(Inputs) || string.IsNullOrEmpty(Output))
        {
            return Spectre.Console.ValidationResult.Error("--model, --inputs and --output are required");
        }

        return Spectre.Console.ValidationResult.Success();
    }
}
