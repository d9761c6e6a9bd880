namespace SvdQuant.Models;

/// <summary>A loaded <see cref="AutoencoderKL"/>'s configuration and size, as reported by the engine.</summary>
public sealed class AutoencoderKLInfo
{
    internal AutoencoderKLInfo(
        int inChannels, int outChannels, int latentChannels, int downscale, int sampleSize, double scalingFactor, double shiftFactor,
        long parameterCount, long weightBytes)
    {
        InChannels = inChannels;
        OutChannels = outChannels;
        LatentChannels = latentChannels;
        Downscale = downscale;
        SampleSize = sampleSize;
        ScalingFactor = scalingFactor;
        ShiftFactor = shiftFactor;
        ParameterCount = parameterCount;
        WeightBytes = weightBytes;
    }

    /// <summary>Image channels the encoder takes (3).</summary>
    public int InChannels { get; }

    /// <summary>Image channels the decoder makes (3).</summary>
    public int OutChannels { get; }

    /// <summary>Latent channels (16 for FLUX.1).</summary>
    public int LatentChannels { get; }

    /// <summary>Image side / latent side (8 for FLUX.1).</summary>
    public int Downscale { get; }

    /// <summary>The config's sample_size: diffusers' tile.</summary>
    public int SampleSize { get; }

    /// <summary>FluxPipeline decodes latents / ScalingFactor + ShiftFactor.</summary>
    public double ScalingFactor { get; }

    /// <summary>0 when the config has none.</summary>
    public double ShiftFactor { get; }

    /// <summary>Parameters in the weights file.</summary>
    public long ParameterCount { get; }

    /// <summary>fp32 bytes of the parameters: an upper bound of their memory (all-BF16 weights are kept in BF16).</summary>
    public long WeightBytes { get; }
}
