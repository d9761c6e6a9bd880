using SvdQuant.Models;

namespace SvdQuant.Formats;

/// <summary>What <see cref="SafeTensorsFile.DetectFlavour"/> found in a checkpoint.</summary>
public sealed class CheckpointInfo
{
    internal CheckpointInfo(
        CheckpointFlavour flavour, NumberFormat format, CheckpointKeys keys,
        long w4a4Layers, long w4a16Layers, long rank, long parameterCount)
    {
        Flavour = flavour;
        Format = format;
        Keys = keys;
        W4A4Layers = w4a4Layers;
        W4A16Layers = w4a16Layers;
        Rank = rank;
        ParameterCount = parameterCount;
    }

    /// <summary>The kind of checkpoint.</summary>
    public CheckpointFlavour Flavour { get; }

    /// <summary>The number format of its 4-bit layers.</summary>
    public NumberFormat Format { get; }

    /// <summary>How its Nunchaku layers name their tensors.</summary>
    public CheckpointKeys Keys { get; }

    /// <summary>SVDQuant layers: packed 4-bit weights, scales and a low-rank branch.</summary>
    public long W4A4Layers { get; }

    /// <summary>AWQ-style layers: 4-bit weights with scales and zeros.</summary>
    public long W4A16Layers { get; }

    /// <summary>The largest low-rank branch rank as stored (Nunchaku pads it to 16); 0 without.</summary>
    public long Rank { get; }

    /// <summary>Values stored, packed 4-bit weights counted one per nibble.</summary>
    public long ParameterCount { get; }
}
