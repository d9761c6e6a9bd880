namespace SvdQuant;

/// <summary>The device an <see cref="Engine"/> runs on.</summary>
public enum Backend
{
    /// <summary>The CPU; always available.</summary>
    Cpu = 0,

    /// <summary>
    /// An NVIDIA GPU (sm_75 or newer), run by the separate libsvdquant_cuda library. An engine asking for it
    /// throws <see cref="SvdQuantException"/> with <see cref="StatusCode.Unsupported"/> and the reason when it
    /// cannot run here (library not shipped or not loadable, no NVIDIA driver, no GPU, no supported architecture);
    /// <see cref="Engine.IsAvailable"/> asks without throwing.
    /// </summary>
    Cuda = 1,

    /// <summary>
    /// A request only: <see cref="Cuda"/> when it can run here, else <see cref="Cpu"/>. <see cref="Engine.Backend"/>
    /// reports the one chosen, never <see cref="Auto"/>.
    /// </summary>
    Auto = 2,
}
