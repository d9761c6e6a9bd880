using System.ComponentModel;
using Spectre.Console.Cli;

namespace SvdQuant.Cli.Commands;

/// <summary>Arguments of <c>svdquant lora inspect</c>.</summary>
internal sealed class LoraInspectSettings : CommandSettings
{
    [CommandArgument(0, "<FILE>")]
    [Description("A LoRA safetensors file: diffusers/PEFT, kohya or BFL keys; F32, F16 or BF16.")]
    public string File { get; init; } = string.Empty;
}
