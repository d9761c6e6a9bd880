using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;

namespace SvdQuant.Cli.Commands;

/// <summary>Options of <c>svdquant demo</c>.</summary>
internal sealed class DemoSettings : EngineSettings
{
    [CommandOption("--tokens <M>")]
    [Description("Rows of the activation matrix (tokens).")]
    [DefaultValue(256)]
    public int Tokens { get; init; }

    [CommandOption("--rank <R>")]
    [Description("Rank of the SVDQuant low-rank branch.")]
    [DefaultValue(32)]
    public int Rank { get; init; }

    [CommandOption("--threads <N>")]
    [Description("Worker threads; 0 uses one per core.")]
    [DefaultValue(0)]
    public int Threads { get; init; }

    [CommandOption("--seed <S>")]
    [Description("Seed of the synthetic layer's data and of the sampler's noise.")]
    [DefaultValue(1)]
    public int Seed { get; init; }

    [CommandOption("--steps <N>")]
    [Description("Sampling steps of the generation part.")]
    [DefaultValue(4)]
    public int Steps { get; init; }

    [CommandOption("--output <PNG>")]
    [Description("Where the generation part writes the SVDQuant latents' RGB preview.")]
    [DefaultValue("svdquant-demo.png")]
    public string Output { get; init; } = "svdquant-demo.png";

    [CommandOption("--write-pipeline <DIR>")]
    [Description("Instead of the demo: write a small synthetic FLUX pipeline folder (random weights, every component in the published layouts) to the new folder DIR, for `svdquant generate --model DIR --prompt ...`.")]
    public string? WritePipeline { get; init; }

    protected override ValidationResult ValidateOptions()
    {
        if (Tokens < 1)
        {
            return ValidationResult.Error("--tokens must be at least 1.");
        }

        if (Rank < 1 || Rank > DemoCommand.Features)
        {
            return ValidationResult.Error($"--rank must be between 1 and {DemoCommand.Features}.");
        }

        if (Seed < 0)
        {
            return ValidationResult.Error("--seed must be 0 or more.");
        }

        if (Steps < 1)
        {
            return ValidationResult.Error("--steps must be at least 1.");
        }

        return Threads < 0 ? ValidationResult.Error("--threads must be 0 or more.") : ValidationResult.Success();
    }
}
