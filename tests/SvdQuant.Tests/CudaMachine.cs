using System;
using System.IO;
using System.Runtime.InteropServices;
using NUnit.Framework;

namespace SvdQuant.Tests;

/// <summary>
/// Whether CUDA can run on this machine, judged without the engine (which the tests check): with no
/// NVIDIA driver it cannot, so the "CUDA unusable" assertions apply; with one they are skipped.
/// </summary>
internal static class CudaMachine
{
    /// <summary>A reason the engine must give names the library, the driver, the GPU or its architecture (match ignoring case).</summary>
    public const string Reason = "(svdquant_cuda|driver|gpu|device|architecture)";

    /// <summary>Why CUDA cannot run here, or null when an NVIDIA driver is installed (it may then run).</summary>
    public static string? WhyNot { get; } =
        RuntimeInformation.IsOSPlatform(OSPlatform.OSX) ? "macOS has no CUDA"
        : RuntimeInformation.IsOSPlatform(OSPlatform.Windows)
            ? File.Exists(Path.Combine(Environment.SystemDirectory, "nvcuda.dll")) ? null : "no NVIDIA driver (no nvcuda.dll)"
        : File.Exists("/proc/driver/nvidia/version") ? null : "no NVIDIA driver (no /proc/driver/nvidia/version)";

    /// <summary>Skips the test where an NVIDIA driver is installed, since CUDA may then run.</summary>
    public static void AssumeCudaCannotRun()
    {
        if (WhyNot is null)
        {
            Assert.Ignore("An NVIDIA driver is installed here, so CUDA may run: the assertions for a machine where it cannot do not apply.");
        }
    }
}
