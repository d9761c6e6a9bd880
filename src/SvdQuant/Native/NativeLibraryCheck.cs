using System;
using System.Reflection;

namespace SvdQuant.Native;

/// <summary>
/// Makes sure, once per process and before any other native call, that the native
/// library loads and comes from the same release as this assembly: same version,
/// same ABI as the generated bindings.
/// </summary>
internal static unsafe class NativeLibraryCheck
{
    private static readonly object Gate = new();
    private static volatile bool _passed;

    /// <summary>True once the library has loaded and passed the checks.</summary>
    public static bool HasPassed => _passed;

    /// <summary>This assembly's version, "major.minor.patch" (build metadata dropped), which the native library must report too.</summary>
    public static string ManagedVersion
    {
        get
        {
            string informational = typeof(NativeLibraryCheck).Assembly
                .GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
            int metadata = informational.IndexOf('+');
            return metadata < 0 ? informational : informational.Substring(0, metadata);
        }
    }

    public static void EnsureCompatible()
    {
        if (_passed)
        {
            return;
        }

        lock (Gate)
        {
            if (_passed)
            {
                return;
            }

#if NET
            NativeLibraryResolver.Register();
#endif
            int libraryAbi = ReadAbiVersion();
            string libraryVersion = NativeText.FromUtf8(NativeMethods.svdq_version());
            string? mismatch = Mismatch(libraryVersion, libraryAbi, ManagedVersion, (int)svdq_constants.SVDQ_ABI_VERSION, LoadedLibrary());
            if (mismatch is not null)
            {
                throw new SvdQuantException(StatusCode.Unsupported, mismatch);
            }

            _passed = true;
        }
    }

    /// <summary>Why a native library of <paramref name="libraryVersion"/> and <paramref name="libraryAbi"/> cannot serve this assembly, or null when it can.</summary>
    internal static string? Mismatch(string libraryVersion, int libraryAbi, string managedVersion, int bindingsAbi, string library)
    {
        if (libraryVersion != managedVersion)
        {
            return $"{library} is SvdQuant engine {libraryVersion} (ABI {libraryAbi}) but SvdQuant.Interop is {managedVersion} (ABI {bindingsAbi}): "
                   + "they come from different releases; use the native library that came with this package.";
        }

        return libraryAbi == bindingsAbi ? null
            : $"{library} has ABI version {libraryAbi} but these bindings (SvdQuant.Interop {managedVersion}) were generated for ABI version {bindingsAbi}: "
              + "the two come from different builds; use the native library that came with this package.";
    }

    private static int ReadAbiVersion()
    {
        try
        {
            return NativeMethods.svdq_abi_version();
        }
        catch (DllNotFoundException e)
        {
            throw new DllNotFoundException(
                $"The native library '{NativeMethods.LibraryName}' ({NativePlatform.FileName(NativeMethods.LibraryName)} for runtime identifier "
                + $"{NativePlatform.RuntimeIdentifier()}) could not be loaded. {DescribeAttempts()}", e);
        }
        catch (EntryPointNotFoundException e)
        {
            throw new SvdQuantException(
                StatusCode.Unsupported,
                $"{LoadedLibrary()} has no svdq_abi_version: it is not the SvdQuant engine, or too old ({e.Message}). {DescribeAttempts()}");
        }
    }

    /// <summary>The native library as the user can find it: its path where the resolver loaded it.</summary>
    private static string LoadedLibrary()
    {
#if NET
        string? path = NativeLibraryResolver.LoadedPath;
        if (path is not null)
        {
            return $"The native library {path}";
        }
#endif
        return $"The native library '{NativeMethods.LibraryName}'";
    }

    private static string DescribeAttempts()
    {
#if NET
        var attempts = NativeLibraryResolver.LastAttempts;
        return attempts.Count == 0
            ? "The library resolver was not consulted."
            : "Tried: " + string.Join("; ", attempts) + ".";
#else
        return "This build leaves the search to the host: for Unity, the platform's plugin folders (Plugins/x86_64); "
               + "for Mono, the program's folder and the system library path.";
#endif
    }
}
