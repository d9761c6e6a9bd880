using System;
using System.Collections.Generic;
using System.IO;
using NUnit.Framework;
using SvdQuant.Native;

namespace SvdQuant.Tests;

/// <summary>The order the resolver tries paths in, and what it reports when they fail.</summary>
public sealed class NativeLibraryResolverTests
{
    [Test]
    public void Candidates_StartWithTheExplicitPath_ThenTheAssemblyFolder_ThenTheBaseDirectory()
    {
        var paths = NativeLibraryResolver.CandidatePaths("/opt/x/libsvdquant.so", "/app/lib", "/app", "linux-x64", "libsvdquant.so");

        Assert.That(paths, Is.EqualTo(new[]
        {
            "/opt/x/libsvdquant.so",
            Path.Combine("/app/lib", "runtimes", "linux-x64", "native", "libsvdquant.so"),
            Path.Combine("/app", "libsvdquant.so"),
            Path.Combine("/app", "runtimes", "linux-x64", "native", "libsvdquant.so"),
        }));
    }

    [Test]
    public void Candidates_SkipAnUnsetPathAndAnUnknownAssemblyFolder()
    {
        var paths = NativeLibraryResolver.CandidatePaths(null, string.Empty, "/app", "linux-x64", "libsvdquant.so");

        Assert.That(paths, Is.EqualTo(new[]
        {
            Path.Combine("/app", "libsvdquant.so"),
            Path.Combine("/app", "runtimes", "linux-x64", "native", "libsvdquant.so"),
        }));
    }

    [Test]
    public void Candidates_AreDistinct_WhenTheAssemblyLivesInTheBaseDirectory()
    {
        var paths = NativeLibraryResolver.CandidatePaths(null, "/app", "/app", "linux-x64", "libsvdquant.so");

        Assert.That(paths, Is.EqualTo(new[]
        {
            Path.Combine("/app", "runtimes", "linux-x64", "native", "libsvdquant.so"),
            Path.Combine("/app", "libsvdquant.so"),
        }));
    }

    [Test]
    public void LoadFirst_FallsBackPastAMissingExplicitPath_AndRecordsEveryPath()
    {
        var attempts = new List<string>();
        IntPtr Load(string path) =>
            path == "/found" ? new IntPtr(42) : throw new DllNotFoundException($"cannot open{Environment.NewLine}shared object file");

        IntPtr library = NativeLibraryResolver.LoadFirst(["/missing", "/found", "/never"], Load, attempts, out string? loaded);

        Assert.That(library, Is.EqualTo(new IntPtr(42)));
        Assert.That(attempts, Has.Count.EqualTo(2));
        Assert.That(attempts[0], Is.EqualTo("/missing: cannot open shared object file"), "one line per path");
        Assert.That(attempts[1], Is.EqualTo("/found: loaded"));
        Assert.That(loaded, Is.EqualTo("/found"));
    }

    [Test]
    public void LoadFirst_ReturnsZeroWhenNothingLoads_AndNeverThrows()
    {
        var attempts = new List<string>();
        IntPtr Load(string path) =>
            path == "/wrong-arch" ? throw new BadImageFormatException("wrong architecture") : throw new DllNotFoundException("missing");

        IntPtr library = NativeLibraryResolver.LoadFirst(["/a", "/wrong-arch"], Load, attempts, out string? loaded);

        Assert.That(library, Is.EqualTo(IntPtr.Zero));
        Assert.That(attempts, Is.EqualTo(new[] { "/a: missing", "/wrong-arch: wrong architecture" }));
        Assert.That(loaded, Is.Null);
    }

    [Test]
    public void TheBuild_PlacesTheLibraryWhereTheResolverLooks()
    {
        string expected = Path.Combine(
            AppContext.BaseDirectory, "runtimes", NativePlatform.RuntimeIdentifier(), "native", NativePlatform.FileName("svdquant"));

        Assert.That(File.Exists(expected), Is.True, expected);
    }

    [Test]
    public void TheEngineLoaded_ThroughTheResolver()
    {
        _ = Engine.Version;

        Assert.That(NativeLibraryResolver.LastAttempts, Has.Some.EndsWith(": loaded"));
        Assert.That(NativeLibraryResolver.LastAttempts, Has.Some.EqualTo(NativeLibraryResolver.LoadedPath + ": loaded"));
    }
}
