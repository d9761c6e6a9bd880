using System;
using SvdQuant.Native;

namespace SvdQuant;

/// <summary>
/// One device a backend runs on: the CPU, or a GPU with its compute capability and memory.
/// <see cref="Engine.GetDevices"/> lists them; <see cref="Engine.Device"/> is the engine's.
/// </summary>
public sealed class DeviceInfo
{
    /// <summary>The size of svdq_device_info's name buffer.</summary>
    private const int NameCapacity = 256;

    private DeviceInfo(Backend backend, int ordinal, string name, Version? computeCapability, int multiprocessors, long totalMemoryBytes, long freeMemoryBytes)
    {
        Backend = backend;
        Ordinal = ordinal;
        Name = name;
        ComputeCapability = computeCapability;
        Multiprocessors = multiprocessors;
        TotalMemoryBytes = totalMemoryBytes;
        FreeMemoryBytes = freeMemoryBytes;
    }

    /// <summary>The backend (never <see cref="SvdQuant.Backend.Auto"/>).</summary>
    public Backend Backend { get; }

    /// <summary>The ordinal <see cref="EngineOptions.Device"/> takes (0 for the CPU).</summary>
    public int Ordinal { get; }

    /// <summary>
    /// The GPU's name ("NVIDIA H100 80GB HBM3"), or for the CPU the best kernel level it has ("CPU (avx2 kernels)";
    /// an engine may be capped lower, see <see cref="Engine.CpuLevel"/>).
    /// </summary>
    public string Name { get; }

    /// <summary>A GPU's compute capability, e.g. 8.9 for Ada or 9.0 for Hopper; null for the CPU.</summary>
    public Version? ComputeCapability { get; }

    /// <summary>A GPU's streaming multiprocessors; the CPU's logical cores.</summary>
    public int Multiprocessors { get; }

    /// <summary>A GPU's memory; 0 for the CPU.</summary>
    public long TotalMemoryBytes { get; }

    /// <summary>A GPU's free memory when this was read; 0 for the CPU.</summary>
    public long FreeMemoryBytes { get; }

    /// <summary>"cuda:0 NVIDIA H100 80GB HBM3 (sm 9.0)" or "cpu:0 CPU (avx2 kernels)".</summary>
    public override string ToString() =>
        $"{Backend.ToString().ToLowerInvariant()}:{Ordinal} {Name}" + (ComputeCapability is null ? string.Empty : $" (sm {ComputeCapability})");

    /// <summary>Reads device <paramref name="ordinal"/> of <paramref name="backend"/> from the engine.</summary>
    internal static unsafe DeviceInfo Read(Backend backend, int ordinal)
    {
        svdq_device_info info = default;
        info.struct_size = (uint)sizeof(svdq_device_info);
        NativeStatus.Check(NativeMethods.svdq_backend_device_info((int)backend, ordinal, &info));
        int capability = info.compute_capability;
        return new DeviceInfo(
            (Backend)info.backend,
            info.ordinal,
            NativeText.FromUtf8(info.name, NameCapacity),
            capability == 0 ? null : new Version(capability / 10, capability % 10),
            info.multiprocessors,
            checked((long)info.total_memory_bytes),
            checked((long)info.free_memory_bytes));
    }
}
