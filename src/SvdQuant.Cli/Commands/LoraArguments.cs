using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using SvdQuant.Models;
using SvdQuant.Quantization;

namespace SvdQuant.Cli.Commands;

/// <summary>The repeatable <c>--lora FILE[:STRENGTH]</c> of the commands that run or quantize a FLUX model.</summary>
internal static class LoraArguments
{
    /// <summary>The option's description (Spectre markup).</summary>
    public const string Description =
        "A LoRA file (diffusers/PEFT, kohya or BFL keys) at strength STRENGTH (default 1), as FILE[[:STRENGTH]]; repeatable. The strength is what follows the last ':' when that is a number, so C:\\x.safetensors is a file.";

    /// <summary>
    /// Each value as a file and strength: the strength is the part after the last ':' only when it
    /// parses as a number (so a Windows drive letter stays in the path); else the whole value is the
    /// file at strength 1.
    /// </summary>
    /// <exception cref="SvdQuantException">A strength that is not finite (<see cref="StatusCode.InvalidArgument"/>).</exception>
    public static IReadOnlyList<LoraMerge> Parse(string[]? values) =>
        (values ?? []).Select(ParseOne).ToList();

    /// <summary>
    /// Adds each LoRA to <paramref name="model"/>, printing on stderr the modules whose alpha defaults to
    /// their rank and every key that matched nothing; the first LoRA the engine refuses ends the command.
    /// </summary>
    public static void AddTo(Engine engine, FluxTransformer model, IReadOnlyList<LoraMerge> loras)
    {
        foreach (LoraMerge lora in loras)
        {
            using LoraFile file = LoraFile.Load(lora.Path);
            LoadedLora added;
            try
            {
                added = model.Loras.Add(engine, file, lora.Strength, lora.Path);
            }
            catch (SvdQuantException e) when (!e.Message.Contains(lora.Path, StringComparison.Ordinal))
            {
                // Which of several LoRAs the model refused.
                throw new SvdQuantException(e.Status, $"LoRA {lora.Path}: {e.Message}");
            }

            string[] defaulted = file.Modules.Where(m => !m.AlphaGiven).Select(m => m.Name).ToArray();
            if (defaulted.Length > 0)
            {
                Warn($"LoRA {lora.Path}: no alpha for {defaulted.Length} modules, so alpha defaults to their rank (scale 1): {string.Join(", ", defaulted)}");
            }

            if (added.UnmatchedKeys.Count > 0)
            {
                Warn($"LoRA {lora.Path}: {added.UnmatchedKeys.Count} keys match nothing in the model and are ignored: {string.Join(", ", added.UnmatchedKeys)}");
            }
        }
    }

    /// <summary>One line for the command's output: the LoRAs and their strengths, or nothing without any.</summary>
    public static string Summary(FluxTransformer model) =>
        model.Loras.Count == 0 ? string.Empty
        : "; LoRA " + string.Join(", ", model.Loras.Select(l => $"{l.Name} x {l.Strength.ToString(CultureInfo.InvariantCulture)} ({l.LayerCount} layers)"));

    /// <summary>A warning as the CLI prints them: one line on stderr.</summary>
    public static void Warn(string message) => Console.Error.WriteLine($"svdquant: warning: {message}");

    private static LoraMerge ParseOne(string value)
    {
        int colon = value.LastIndexOf(':');
        if (colon < 0 || !float.TryParse(value.AsSpan(colon + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out float strength))
        {
            return new LoraMerge(value);
        }

        if (!float.IsFinite(strength))
        {
            throw new SvdQuantException(StatusCode.InvalidArgument, $"--lora {value}: the strength {value[(colon + 1)..]} is not a finite number");
        }

        return new LoraMerge(value[..colon], strength);
    }
}
