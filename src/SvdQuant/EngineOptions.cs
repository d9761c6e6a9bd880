using System;

namespace SvdQuant;

/// <summary>How an <see cref="Engine"/> is set up.</summary>
public sealed class EngineOptions
{
    /// <summary>The device to run on. Default: <see cref="SvdQuant.Backend.Cpu"/>.</summary>
    public Backend Backend { get; set; } = Backend.Cpu;

    /// <summary>
    /// The GPU's ordinal for <see cref="SvdQuant.Backend.Cuda"/> (and <see cref="SvdQuant.Backend.Auto"/> when it
    /// picks CUDA), as <see cref="Engine.GetDevices"/> lists them. Default: 0, the first (and the CPU's only one).
    /// The engine refuses a negative ordinal and one that names no GPU.
    /// </summary>
    public int Device { get; set; }

    /// <summary>Worker threads; 0 (the default) uses one per core.</summary>
    public int Threads { get; set; }

    /// <summary>The highest CPU kernel level to use. Default: <see cref="SvdQuant.CpuLevel.Auto"/>, the best the CPU supports.</summary>
    public CpuLevel CpuLevel { get; set; } = CpuLevel.Auto;

    /// <summary>The least severe messages passed to <see cref="Log"/>. Default: <see cref="SvdQuant.LogLevel.Warning"/>.</summary>
    public LogLevel LogLevel { get; set; } = LogLevel.Warning;

    /// <summary>
    /// Receives the engine's log messages on the thread that called into the engine, or null.
    /// Exceptions it throws are swallowed, since they cannot cross into native code.
    /// </summary>
    public Action<LogLevel, string>? Log { get; set; }
}
