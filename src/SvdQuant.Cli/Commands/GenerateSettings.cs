using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;

namespace SvdQuant.Cli.Commands;

/// <summary>Arguments of <c>svdquant generate</c>.</summary>
// Descriptions are Spectre markup: [[ and ]] print brackets.
internal sealed class GenerateSettings : CommandSettings
{
    [CommandOption("--model <PATH>")]
    [Description("A diffusers FLUX folder (config.json and *.safetensors weights; scheduler/scheduler_config.json beside it is used) or a quantized checkpoint file.")]
    public string Model { get; init; } = string.Empty;

    [CommandOption("--embeddings <FILE>")]
    [Description("The prompt's text-encoder outputs: safetensors with encoder_hidden_states [[1,S_txt,D]] and pooled_projections [[1,P]] (F32, F16 or BF16).")]
    public string Embeddings { get; init; } = string.Empty;

    [CommandOption("--negative <FILE>")]
    [Description("The negative prompt's, with the same keys, for --true-cfg above 1.")]
    public string? Negative { get; init; }

    [CommandOption("--width <PIXELS>")]
    [Description("Image width, rounded down to a multiple of 16 (at least 16).")]
    [DefaultValue(1024)]
    public int Width { get; init; } = 1024;

    [CommandOption("--height <PIXELS>")]
    [Description("Image height, rounded down to a multiple of 16 (at least 16).")]
    [DefaultValue(1024)]
    public int Height { get; init; } = 1024;

    [CommandOption("--steps <N>")]
    [Description("Sampling steps.")]
    [DefaultValue(28)]
    public int Steps { get; init; } = 28;

    [CommandOption("--guidance <SCALE>")]
    [Description("Embedded guidance scale (default 3.5); a model without a guidance embedding ignores it, with a note.")]
    public float? Guidance { get; init; }

    [CommandOption("--true-cfg <SCALE>")]
    [Description("True classifier-free guidance scale; 1 is off, above 1 needs --negative (two passes per step).")]
    [DefaultValue(1f)]
    public float TrueCfg { get; init; } = 1f;

    [CommandOption("--seed <SEED>")]
    [Description("Seed of the initial noise (Philox Gaussian, the same on every platform) and of euler_a.")]
    [DefaultValue(42UL)]
    public ulong Seed { get; init; } = 42;

    [CommandOption("--sampler <SAMPLER>")]
    [Description("euler (default), heun, dpmpp2m or euler_a.")]
    [DefaultValue("euler")]
    public string Sampler { get; init; } = "euler";

    [CommandOption("--cache <THRESHOLD>")]
    [Description("First-block cache threshold; 0 (default) is off.")]
    [DefaultValue(0f)]
    public float Cache { get; init; }

    [CommandOption("--noise <FILE>")]
    [Description("Initial noise instead of the seeded: safetensors with noise [[1,S_img,in_channels]] (packed latents), to reproduce a run of another tool.")]
    public string? Noise { get; init; }

    [CommandOption("--latents-out <FILE>")]
    [Description("Also write the final packed latents [[1,S_img,in_channels]] (before unpacking) as `latents`, F32.")]
    public string? LatentsOut { get; init; }

    [CommandOption("--output <FILE>")]
    [Description("The PNG: the latent RGB preview (ComfyUI's FLUX latent-to-RGB factors; other channel counts: channels 0-2 stretched), at the image's size.")]
    public string Output { get; init; } = string.Empty;

    public override ValidationResult Validate() =>
        string.IsNullOrEmpty(Model) || string.IsNullOrEmpty(Embeddings) || string.IsNullOrEmpty(Output)
            ? ValidationResult.Error("--model, --embeddings and --output are required")
            : ValidationResult.Success();
}
