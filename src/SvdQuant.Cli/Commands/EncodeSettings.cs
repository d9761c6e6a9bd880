using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;

namespace SvdQuant.Cli.Commands;

/// <summary>Arguments of <c>svdquant encode</c>.</summary>
// Descriptions are Spectre markup: [[ and ]] print brackets.
internal sealed class EncodeSettings : EngineSettings
{
    [CommandOption("--model <DIR>")]
    [Description("A diffusers FLUX pipeline folder: text_encoder/ (CLIP) and text_encoder_2/ (T5), and for --prompt tokenizer/ and tokenizer_2/.")]
    public string Model { get; init; } = string.Empty;

    [CommandOption("--prompt <TEXT>")]
    [Description("The prompt (\"\" is allowed: it encodes as the pipeline encodes an empty prompt).")]
    public string? Prompt { get; init; }

    [CommandOption("--token-ids <FILE>")]
    [Description("Token ids instead of a prompt: safetensors with clip_input_ids [[B,L_clip]] and t5_input_ids [[B,L_t5]] (I64 or I32).")]
    public string? TokenIds { get; init; }

    [CommandOption("--output <FILE>")]
    [Description("Where to write encoder_hidden_states [[B,L_t5,D_t5]] and pooled_projections [[B,D_clip]], F32: the --embeddings of `svdquant generate` (batch 1).")]
    public string Output { get; init; } = string.Empty;

    [CommandOption("--t5-precision <PRECISION>")]
    [Description("float (default) or w4a16 (T5's block linears in INT4, quantized at load).")]
    [DefaultValue("float")]
    public string T5Precision { get; init; } = "float";

    [CommandOption("--max-length <N>")]
    [Description("T5's token count for --prompt; default 512 (a model with a guidance embedding, FLUX.1-dev) or 256 (FLUX.1-schnell).")]
    public int? MaxLength { get; init; }

    protected override ValidationResult ValidateOptions()
    {
        if (string.IsNullOrEmpty(Model) || string.IsNullOrEmpty(Output))
        {
            return ValidationResult.Error("--model and --output are required");
        }

        if ((Prompt is null) == (TokenIds is null))
        {
            return ValidationResult.Error("give exactly one of --prompt and --token-ids");
        }

        return ValidationResult.Success();
    }
}
