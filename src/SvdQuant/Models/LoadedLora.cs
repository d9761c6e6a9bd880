using System.Collections.Generic;

namespace SvdQuant.Models;

/// <summary>A LoRA added to a <see cref="FluxTransformer"/> (see <see cref="FluxLoraCollection"/>), as the engine matched it.</summary>
public sealed class LoadedLora
{
    internal LoadedLora(int id, string name, float strength, int matchedModules, IReadOnlyList<string> unmatchedKeys, int layerCount)
    {
        Id = id;
        Name = name;
        Strength = strength;
        MatchedModules = matchedModules;
        UnmatchedKeys = unmatchedKeys;
        LayerCount = layerCount;
    }

    /// <summary>The engine's id of the LoRA on its model.</summary>
    public int Id { get; }

    /// <summary>The name it was added under (the path, unless another was given).</summary>
    public string Name { get; }

    /// <summary>The current strength s: each module adds s * alpha / rank * B A.</summary>
    public float Strength { get; internal set; }

    /// <summary>Modules of the file that reached a linear of the model.</summary>
    public int MatchedModules { get; }

    /// <summary>Every key of the file that changed nothing (the engine also logs them in one warning).</summary>
    public IReadOnlyList<string> UnmatchedKeys { get; }

    /// <summary>Linears of the model the LoRA changes (a fused q/k/v LoRA counts once per linear it reaches).</summary>
    public int LayerCount { get; }
}
