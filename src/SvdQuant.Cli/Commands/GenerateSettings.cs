using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;

namespace SvdQuant.Cli.Commands;

/// <summary>Arguments of <c>svdquant generate</c>.</summary>
// Descriptions are Spectre markup: [[ and ]] print brackets.
internal sealed class GenerateSettings : EngineSettings
{
    [CommandOption("--model <PATH>")]
    [Description("A diffusers FLUX pipeline folder (model_index.json, scheduler/, text_encoder/, text_encoder_2/, tokenizer/, tokenizer_2/, transformer/, vae/): the PNG is the picture. Or a transformer alone (a diffusers transformer folder or a quantized checkpoint file) with --embeddings: the PNG is the latent preview.")]
    public string Model { get; init; } = string.Empty;

    [CommandOption("--transformer <FILE>")]
    [Description("With a pipeline folder: a transformer checkpoint (a 4-bit file, ours or Nunchaku's SVDQ INT4/NVFP4) replacing transformer/.")]
    public string? Transformer { get; init; }

    [CommandOption("--attention <PRECISION>")]
    [Description("The transformer's attention: Auto (default: Bf16 for 4-bit blocks, Fp32 for float ones), Fp32, or Bf16 (q, k, v and the probabilities rounded to BF16 for AVX512_BF16 dot products; fp32 sums).")]
    [DefaultValue(Models.AttentionPrecision.Auto)]
    public Models.AttentionPrecision Attention { get; init; } = Models.AttentionPrecision.Auto;

    [CommandOption("--t5 <FILE>")]
    [Description("With a pipeline folder: a 4-bit T5 file (ours, or Nunchaku's AWQ INT4 T5-XXL) replacing text_encoder_2/'s weights.")]
    public string? T5 { get; init; }

    [CommandOption("--prompt <TEXT>")]
    [Description("With a pipeline folder: the prompt, tokenized and encoded by the folder's CLIP and T5.")]
    public string? Prompt { get; init; }

    [CommandOption("--token-ids <FILE>")]
    [Description("With a pipeline folder: the prompt's token ids, the file of `svdquant encode --token-ids` (clip_input_ids [[1,L_clip]], t5_input_ids [[1,L_t5]]).")]
    public string? TokenIds { get; init; }

    [CommandOption("--embeddings <FILE>")]
    [Description("The prompt's text-encoder outputs: safetensors with encoder_hidden_states [[1,S_txt,D]] and pooled_projections [[1,P]] (F32, F16 or BF16).")]
    public string? Embeddings { get; init; }

    [CommandOption("--negative-prompt <TEXT>")]
    [Description("With a pipeline folder: the negative prompt, for --true-cfg above 1.")]
    public string? NegativePrompt { get; init; }

    [CommandOption("--negative <FILE>")]
    [Description("The negative prompt's text-encoder outputs, with the keys of --embeddings, for --true-cfg above 1.")]
    public string? Negative { get; init; }

    [CommandOption("--init-image <PNG>")]
    [Description("With a pipeline folder: image-to-image from this picture (sides multiples of 16; the result has its size).")]
    public string? InitImage { get; init; }

    [CommandOption("--strength <S>")]
    [Description("With --init-image: the share of the schedule run from the init image, in [[0,1]] (default 0.6; 0 returns it through the VAE).")]
    public float? Strength { get; init; }

    [CommandOption("--mask <PNG>")]
    [Description("With --init-image: inpaint where the mask (the image's size) is light, keep where it is dark.")]
    public string? Mask { get; init; }

    [CommandOption("--width <PIXELS>")]
    [Description("Image width (default 1024), rounded down to a multiple of 16 (at least 16); not with --init-image, whose size the result has.")]
    public int? Width { get; init; }

    [CommandOption("--height <PIXELS>")]
    [Description("Image height (default 1024), rounded down to a multiple of 16 (at least 16); not with --init-image, whose size the result has.")]
    public int? Height { get; init; }

    [CommandOption("--steps <N>")]
    [Description("Sampling steps; default: the pipeline folder's model (28 for FLUX.1-dev-style, 4 for schnell-style), 28 for a transformer alone.")]
    public int? Steps { get; init; }

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

    [CommandOption("--image-out <FILE>")]
    [Description("With a pipeline folder: also write the VAE's output before conversion to 8 bits as `image` [[1,3,H,W]], F32.")]
    public string? ImageOut { get; init; }

    [CommandOption("--lora <FILE>")]
    [Description(LoraArguments.Description)]
    public string[]? Loras { get; init; }

    [CommandOption("--output <FILE>")]
    [Description("The PNG (a .png name): the picture (with a pipeline folder), else the latent RGB preview (ComfyUI's FLUX latent-to-RGB factors; other channel counts: channels 0-2 stretched) at the image's size.")]
    public string Output { get; init; } = string.Empty;

    protected override ValidationResult ValidateOptions()
    {
        if (string.IsNullOrEmpty(Model) || string.IsNullOrEmpty(Output))
        {
            return ValidationResult.Error("--model and --output are required");
        }

        int prompts = (Prompt is null ? 0 : 1) + (TokenIds is null ? 0 : 1) + (Embeddings is null ? 0 : 1);
        return prompts == 1
            ? ValidationResult.Success()
            : ValidationResult.Error("give exactly one of --prompt, --token-ids and --embeddings");
    }
}
