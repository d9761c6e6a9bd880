using System;
using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;
using SvdQuant.Models;

namespace SvdQuant.Cli.Commands;

/// <summary>Arguments shared by <c>svdquant vae decode</c> and <c>svdquant vae encode</c>.</summary>
// Descriptions are Spectre markup: [[ and ]] print brackets.
internal abstract class VaeSettings : EngineSettings
{
    [CommandOption("--model <DIR>")]
    [Description("A VAE folder (config.json + diffusion_pytorch_model.safetensors) or a FLUX folder with vae/.")]
    public string Model { get; init; } = string.Empty;

    [CommandOption("--output <FILE>")]
    [Description("The safetensors file to write (F32).")]
    public string Output { get; init; } = string.Empty;

    [CommandOption("--tiling <MODE>")]
    [Description("auto (default: tiles above the config's sample_size, at most 1024 px), always (tiles above --tile-size, diffusers' enable_tiling) or never.")]
    [DefaultValue("auto")]
    public string Tiling { get; init; } = "auto";

    [CommandOption("--tile-size <PIXELS>")]
    [Description("Tile side in image pixels, a multiple of 4 x the VAE's downscale (32 for FLUX.1); 0 (default): the config's sample_size, at most 1024.")]
    [DefaultValue(0)]
    public int TileSize { get; init; }

    /// <summary>The input file.</summary>
    public abstract string Input { get; }

    /// <summary>The input file's option, for messages.</summary>
    protected abstract string InputOption { get; }

    /// <summary>The tiling the options ask for.</summary>
    public AutoencoderKLOptions Options => new()
    {
        Tiling = Tiling.ToLowerInvariant() switch
        {
            "always" => VaeTiling.Always,
            "never" => VaeTiling.Never,
            _ => VaeTiling.Auto,
        },
        TileSize = TileSize,
    };

    protected override ValidationResult ValidateOptions()
    {
        if (string.IsNullOrEmpty(Model) || string.IsNullOrEmpty(Input) || string.IsNullOrEmpty(Output))
        {
            return ValidationResult.Error($"--model, {InputOption} and --output are required");
        }

        if (Tiling.ToLowerInvariant() is not ("auto" or "always" or "never"))
        {
            return ValidationResult.Error($"--tiling '{Tiling}': use auto, always or never");
        }

        return ValidationResult.Success();
    }
}

/// <summary>Arguments of <c>svdquant vae decode</c>.</summary>
internal sealed class VaeDecodeSettings : VaeSettings
{
    [CommandOption("--latents <FILE>")]
    [Description("safetensors with `latents` [[B,C,h,w]] exactly as vae.decode takes them (no scaling); F32, F16 or BF16.")]
    public string Latents { get; init; } = string.Empty;

    public override string Input => Latents;

    protected override string InputOption => "--latents";
}

/// <summary>Arguments of <c>svdquant vae encode</c>.</summary>
internal sealed class VaeEncodeSettings : VaeSettings
{
    [CommandOption("--image <FILE>")]
    [Description("safetensors with `image` [[B,3,H,W]] in [[-1,1]], H and W multiples of the downscale (8 for FLUX.1); F32, F16 or BF16.")]
    public string Image { get; init; } = string.Empty;

    public override string Input => Image;

    protected override string InputOption => "--image";
}
