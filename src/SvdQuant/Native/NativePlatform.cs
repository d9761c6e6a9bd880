using System.Runtime.InteropServices;

namespace SvdQuant.Native;

/// <summary>The runtime identifier and native file names of this process's platform, as NuGet's runtimes folders name them.</summary>
internal static class NativePlatform
{
    /// <summary>The NuGet package that carries the CUDA backend library.</summary>
    public const string CudaPackage = "SvdQuant.Interop.Runtime.Cuda";

    /// <summary>The portable runtime identifier of this process, such as linux-x64 or win-x64.</summary>
    public static string RuntimeIdentifier()
    {
        string os = RuntimeInformation.IsOSPlatform(OSPlatform.Windows) ? "win"
            : RuntimeInformation.IsOSPlatform(OSPlatform.OSX) ? "osx"
            : "linux";
        return os + "-" + RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
    }

    /// <summary>The conventional file name of a native library on this operating system.</summary>
    public static string FileName(string libraryName) =>
        RuntimeInformation.IsOSPlatform(OSPlatform.Windows) ? libraryName + ".dll"
        : RuntimeInformation.IsOSPlatform(OSPlatform.OSX) ? "lib" + libraryName + ".dylib"
        : "lib" + libraryName + ".so";
}
