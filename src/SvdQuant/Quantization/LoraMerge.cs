using System;

namespace SvdQuant.Quantization;

/// <summary>
/// A LoRA file merged into the float weights before <see cref="Quantizer.QuantizeFlux"/> quantizes
/// them (W += Strength * alpha / rank * B A), so the quantized file holds it for good.
/// </summary>
public sealed class LoraMerge
{
    /// <summary>Names the file and its strength.</summary>
    /// <param name="path">A LoRA safetensors file (diffusers/PEFT, kohya or BFL keys).</param>
    /// <param name="strength">s, as <see cref="Models.FluxLoraCollection.Add(Engine, string, float)"/> takes it.</param>
    public LoraMerge(string path, float strength = 1f)
    {
        Path = path ?? throw new ArgumentNullException(nameof(path));
        Strength = strength;
    }

    /// <summary>The LoRA file.</summary>
    public string Path { get; }

    /// <summary>s.</summary>
    public float Strength { get; }
}
