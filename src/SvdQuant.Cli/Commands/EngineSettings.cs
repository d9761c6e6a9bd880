using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;

namespace SvdQuant.Cli.Commands;

/// <summary>The <c>--backend</c> and <c>--device</c> of every command that starts an engine.</summary>
// Descriptions are Spectre markup: [[ and ]] print brackets.
internal abstract class EngineSettings : CommandSettings
{
    [CommandOption("--backend <BACKEND>")]
    [Description("cpu (default), cuda (an NVIDIA GPU; refused with the reason where CUDA cannot run) or auto (CUDA where it can run, else the CPU); `svdquant devices` shows what runs here.")]
    [DefaultValue("cpu")]
    public string Backend { get; init; } = "cpu";

    [CommandOption("--device <N>")]
    [Description("The GPU's ordinal for cuda and auto, as `svdquant devices` lists them (default 0, the first).")]
    [DefaultValue(0)]
    public int Device { get; init; }

    /// <summary>Engine options for these words; the command adds its own (threads, log).</summary>
    public EngineOptions NewEngineOptions() => new() { Backend = ParseBackend(Backend)!.Value, Device = Device };

    /// <summary>Checks --backend, then the command's own options.</summary>
    public sealed override ValidationResult Validate() =>
        ParseBackend(Backend) is null
            ? ValidationResult.Error($"--backend {Backend}: expected cpu, cuda or auto")
            : ValidateOptions();

    /// <summary>The command's own checks.</summary>
    protected virtual ValidationResult ValidateOptions() => ValidationResult.Success();

    /// <summary>The backend a word names, or null for any other word.</summary>
    private static Backend? ParseBackend(string word) => word.ToLowerInvariant() switch
    {
        "cpu" => SvdQuant.Backend.Cpu,
        "cuda" => SvdQuant.Backend.Cuda,
        "auto" => SvdQuant.Backend.Auto,
        _ => null,
    };
}
