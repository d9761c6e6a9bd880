using System.ComponentModel;
using Spectre.Console.Cli;

namespace SvdQuant.Cli.Commands;

/// <summary>Arguments of <c>svdquant inspect</c>.</summary>
internal sealed class InspectSettings : CommandSettings
{
    [CommandArgument(0, "<FILE>")]
    [Description("A safetensors checkpoint: diffusers FLUX, Nunchaku SVDQuant (INT4 or NVFP4), or one this engine wrote.")]
    public string File { get; init; } = string.Empty;

    [CommandOption("--filter <TEXT>")]
    [Description("List only the tensors whose name contains TEXT.")]
    public string? Filter { get; init; }
}
