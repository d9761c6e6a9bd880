using System;

namespace SvdQuant.Native;

/// <summary>
/// Makes sure, once per process and before any other native call, that the native
/// library loads and was built for the ABI the generated bindings describe.
/// </summary>
internal static class NativeLibraryCheck
{
    private static readonly object Gate = new();
    private static volatile bool _passed;

    /// <summary>True once the library has loaded and passed the ABI check.</summary>
    public static bool HasPassed => _passed;

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
            const int bindingsAbi = (int)svdq_constants.SVDQ_ABI_VERSION;
            if (libraryAbi != bindingsAbi)
            {
                throw new SvdQuantException(
                    StatusCode.Unsupported,
                    $"The native library has ABI version {libraryAbi} but these bindings were generated for ABI version {bindingsAbi}; use the native library that came with this package.");
            }

            _passed = true;
        }
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
                $"The native library '{NativeMethods.LibraryName}' could not be loaded. {DescribeAttempts()}", e);
        }
        catch (EntryPointNotFoundException e)
        {
            throw new SvdQuantException(
                StatusCode.Unsupported,
                $"The library loaded as '{NativeMethods.LibraryName}' has no svdq_abi_version: it is not the SvdQuant engine, or too old ({e.Message}). {DescribeAttempts()}");
        }
    }

    private static string DescribeAttempts()
    {
#if NET
        var attempts = NativeLibraryResolver.LastAttempts;
        return attempts.Count == 0
            ? "The library resolver was not consulted."
            : "Tried: " + string.Join("; ", attempts) + ".";
#else
        return "This build leaves the search to the host (for Unity: the platform's plugin folders).";
#endif
    }
}
