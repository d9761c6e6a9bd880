#if NET
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;

namespace SvdQuant.Native;

/// <summary>
/// Finds the native engine for the generated bindings: an explicit path if the user
/// set one, then runtimes/&lt;rid&gt;/native next to this assembly, then the
/// application base directory and its runtimes folder, then the runtime's default
/// probing. Never throws; remembers what it tried so a load failure can say so.
/// </summary>
internal static class NativeLibraryResolver
{
    private static readonly object Gate = new();
    private static bool _registered;
    private static IReadOnlyList<string> _lastAttempts = Array.Empty<string>();
    private static string? _loadedPath;

    /// <summary>A path to the native library that is tried before any other, or null.</summary>
    public static string? ExplicitPath { get; set; }

    /// <summary>Each path of the last resolution with its outcome.</summary>
    public static IReadOnlyList<string> LastAttempts
    {
        get
        {
            lock (Gate)
            {
                return _lastAttempts;
            }
        }
    }

    /// <summary>The file the last resolution loaded, or null when it handed over to the runtime's default search.</summary>
    public static string? LoadedPath
    {
        get
        {
            lock (Gate)
            {
                return _loadedPath;
            }
        }
    }

    /// <summary>Installs the resolver for the bindings' assembly; later calls do nothing.</summary>
    public static void Register()
    {
        lock (Gate)
        {
            if (_registered)
            {
                return;
            }

            NativeLibrary.SetDllImportResolver(typeof(NativeMethods).Assembly, Resolve);
            _registered = true;
        }
    }

    /// <summary>The distinct paths to try, in order, for a library file in a runtime identifier's folder.</summary>
    internal static IEnumerable<string> CandidatePaths(
        string? explicitPath, string? assemblyDirectory, string baseDirectory, string rid, string fileName)
    {
        string ridFolder = Path.Combine("runtimes", rid, "native", fileName);
        var paths = new List<string>();
        if (!string.IsNullOrEmpty(explicitPath))
        {
            paths.Add(explicitPath!);
        }

        if (!string.IsNullOrEmpty(assemblyDirectory))
        {
            paths.Add(Path.Combine(assemblyDirectory!, ridFolder));
        }

        paths.Add(Path.Combine(baseDirectory, fileName));
        paths.Add(Path.Combine(baseDirectory, ridFolder));
        // The assembly usually lives in the base directory.
        return paths.Distinct(StringComparer.Ordinal);
    }

    /// <summary>
    /// Loads the first candidate that <paramref name="load"/> accepts and records each
    /// path tried, with its outcome, in <paramref name="attempts"/>. Returns IntPtr.Zero (and a null
    /// <paramref name="loadedPath"/>) when none loads.
    /// </summary>
    internal static IntPtr LoadFirst(IEnumerable<string> candidates, Func<string, IntPtr> load, ICollection<string> attempts, out string? loadedPath)
    {
        loadedPath = null;
        foreach (string path in candidates)
        {
            try
            {
                IntPtr library = load(path);
                attempts.Add($"{path}: loaded");
                loadedPath = path;
                return library;
            }
            catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
            {
                attempts.Add($"{path}: {e.Message.ReplaceLineEndings(" ")}");
            }
        }

        return IntPtr.Zero;
    }

    // A missing file is the common case; say so instead of the loader's long message.
    private static IntPtr LoadExisting(string path) =>
        File.Exists(path) ? NativeLibrary.Load(path) : throw new DllNotFoundException("not found");

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (libraryName != NativeMethods.LibraryName)
        {
            return IntPtr.Zero;
        }

        var attempts = new List<string>();
        IEnumerable<string> candidates = CandidatePaths(
            ExplicitPath,
            Path.GetDirectoryName(assembly.Location),
            AppContext.BaseDirectory,
            NativePlatform.RuntimeIdentifier(),
            NativePlatform.FileName(libraryName));
        IntPtr library = LoadFirst(candidates, LoadExisting, attempts, out string? loadedPath);
        if (library == IntPtr.Zero)
        {
            attempts.Add($"then the runtime's default search for '{libraryName}'");
        }

        lock (Gate)
        {
            _lastAttempts = attempts;
            _loadedPath = loadedPath;
        }

        // IntPtr.Zero hands over to the default probing (e.g. a NuGet package's deps.json entry).
        return library;
    }
}
#endif
