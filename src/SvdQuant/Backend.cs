namespace SvdQuant;

/// <summary>The device an <see cref="Engine"/> runs on.</summary>
public enum Backend
{
    /// <summary>The CPU; always available.</summary>
    Cpu = 0,

    /// <summary>An NVIDIA GPU; only in builds with CUDA and on machines that have one.</summary>
    Cuda = 1,
}
