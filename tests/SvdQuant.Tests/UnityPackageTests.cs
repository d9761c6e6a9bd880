using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text.Json;
using System.Text.RegularExpressions;
using NUnit.Framework;

namespace SvdQuant.Tests;

/// <summary>
/// The Unity package folder unity/build-package.sh makes, checked as Unity would read it (no Unity
/// here): UPM's files, package.json with the repository's version, a .meta with a unique GUID beside
/// every file and folder, each native library imported only for its own OS's Editor and 64-bit player,
/// and every assembly the netstandard2.1 SvdQuant.Interop.dll needs (transitively) in Runtime/ or in .NET Standard 2.1.
/// </summary>
[NonParallelizable]
[Platform(Include = "Linux", Reason = "unity/build-package.sh is a bash script over the Linux engine build")]
public sealed class UnityPackageTests
{
    private const string Package = "com.svdquant.interop";

    private static string _root = null!;
    private static string _package = null!;
    private static string _output = null!;

    [OneTimeSetUp]
    public static void BuildPackage()
    {
        _root = Directory.CreateTempSubdirectory("svdq-unity-").FullName;
        _package = Path.Combine(_root, Package);
        // The Windows engine is another machine's build: a stand-in file exercises its import settings.
        string windowsDll = Path.Combine(_root, "svdquant.dll");
        File.WriteAllText(windowsDll, "stand-in");
        _output = RunScript("--out", _package, "--linux-so", LinuxEngine(), "--win-dll", windowsDll);
    }

    [OneTimeTearDown]
    public static void Delete() => Directory.Delete(_root, recursive: true);

    // The engine the tests run on, copied beside them by the build.
    private static string LinuxEngine() => Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libsvdquant.so");

    private static string Script()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string script = Path.Combine(dir.FullName, "unity", "build-package.sh");
            if (File.Exists(script))
            {
                return script;
            }
        }

        throw new AssertionException("unity/build-package.sh not found above " + AppContext.BaseDirectory);
    }

    private static string RunScript(params string[] arguments)
    {
        var (exitCode, output, errors) = ChildProcess.Run("bash", TimeSpan.FromMinutes(3), [Script(), .. arguments]);
        Assert.That(exitCode, Is.Zero, $"build-package.sh failed:\n{output}\n{errors}");
        return output;
    }

    private static string PathOf(string relative) => Path.Combine(_package, relative.Replace('/', Path.DirectorySeparatorChar));

    [Test]
    public void TheFolder_HasUpmsFiles_TheManagedAssembliesAndBothEngines()
    {
        string[] required =
        [
            "package.json", "README.md", "CHANGELOG.md", "LICENSE.md",
            "Runtime/SvdQuant.Interop.dll", "Runtime/SvdQuant.Interop.xml",
            "Plugins/Linux/x86_64/libsvdquant.so", "Plugins/Windows/x86_64/svdquant.dll",
        ];
        Assert.Multiple(() =>
        {
            foreach (string file in required)
            {
                Assert.That(File.Exists(PathOf(file)), Is.True, file);
            }

            Assert.That(File.ReadAllBytes(PathOf("Plugins/Linux/x86_64/libsvdquant.so")), Is.EqualTo(File.ReadAllBytes(LinuxEngine())), "the engine given");
            Assert.That(TargetFramework(PathOf("Runtime/SvdQuant.Interop.dll")), Is.EqualTo(".NETStandard,Version=v2.1"));
            Assert.That(_output, Does.Contain("windows x86_64 engine from"));
        });
    }

    [Test]
    public void PackageJson_IsAValidUpmManifest_WithTheAssemblysVersion()
    {
        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(PathOf("package.json")));
        JsonElement m = json.RootElement;
        string assemblyVersion = typeof(Engine).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];
        Assert.Multiple(() =>
        {
            Assert.That(m.GetProperty("name").GetString(), Is.EqualTo(Package).And.Match("^[a-z0-9][a-z0-9._-]*$"), "UPM names are lower-case reverse-DNS");
            Assert.That(m.GetProperty("version").GetString(), Is.EqualTo(assemblyVersion).And.Match(@"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$"), "semver, the assembly's");
            Assert.That(m.GetProperty("unity").GetString(), Does.Match(@"^\d{4}\.\d+$"), "UPM's major.minor Unity version");
            Assert.That(m.GetProperty("displayName").GetString(), Is.Not.Empty);
            Assert.That(m.GetProperty("description").GetString(), Is.Not.Empty);
        });
    }

    [Test]
    public void EveryFileAndFolder_HasAMeta_WithAUniqueDeterministicGuid()
    {
        var entries = Directory.EnumerateFileSystemEntries(_package, "*", SearchOption.AllDirectories)
            .Where(p => !p.EndsWith(".meta", StringComparison.Ordinal)).ToList();
        var metas = Directory.EnumerateFiles(_package, "*.meta", SearchOption.AllDirectories).ToList();
        var guids = new Dictionary<string, string>();
        Assert.Multiple(() =>
        {
            Assert.That(entries, Has.Count.GreaterThan(20));
            foreach (string entry in entries)
            {
                string meta = entry + ".meta";
                if (!File.Exists(meta))
                {
                    Assert.Fail($"{entry} has no .meta");
                    continue;
                }

                string text = File.ReadAllText(meta);
                Match guid = Regex.Match(text, "^guid: ([0-9a-f]{32})$", RegexOptions.Multiline);
                Assert.That(text, Does.StartWith("fileFormatVersion: 2\n"), meta);
                Assert.That(guid.Success, Is.True, $"{meta}: a 32-digit hex guid");
                Assert.That(guids.TryAdd(guid.Groups[1].Value, entry), Is.True, $"{entry} shares its guid with {guids.GetValueOrDefault(guid.Groups[1].Value)}");
                Assert.That(text.Contains("folderAsset: yes"), Is.EqualTo(Directory.Exists(entry)), $"{meta}: folderAsset for folders only");
            }

            Assert.That(metas.Select(m => m[..^".meta".Length]), Is.All.Matches<string>(p => File.Exists(p) || Directory.Exists(p)), "no orphan .meta");
        });

        // Reproducible: a second build gives every path the same guid (projects keep their references).
        string again = Path.Combine(_root, "again", Package);
        RunScript("--out", again, "--linux-so", LinuxEngine());
        foreach (string meta in Directory.EnumerateFiles(again, "*.meta", SearchOption.AllDirectories))
        {
            string first = Path.Combine(_package, Path.GetRelativePath(again, meta));
            Assert.That(File.ReadAllText(meta), Is.EqualTo(File.ReadAllText(first)), Path.GetRelativePath(again, meta));
        }
    }

    [Test]
    public void EachEngine_IsImportedForItsOwnOsEditorAndPlayer_X86_64Only()
    {
        AssertNative("Plugins/Linux/x86_64/libsvdquant.so", "Linux", "Linux64");
        AssertNative("Plugins/Windows/x86_64/svdquant.dll", "Windows", "Win64");
    }

    private static void AssertNative(string file, string os, string player)
    {
        var platforms = PlatformData(File.ReadAllText(PathOf(file) + ".meta"));
        string[] players = ["Linux64", "Win64", "Win", "OSXUniversal"];
        Assert.Multiple(() =>
        {
            Assert.That(platforms["Any:"].Enabled, Is.False, $"{file}: not for any platform");
            Assert.That(platforms["Editor:Editor"].Enabled, Is.True, $"{file}: the Editor loads it");
            Assert.That(platforms["Editor:Editor"].Settings, Does.ContainKey("OS").WithValue(os).And.ContainKey("CPU").WithValue("x86_64"), file);
            foreach (string p in players)
            {
                bool mine = p == player;
                Assert.That(platforms["Standalone:" + p].Enabled, Is.EqualTo(mine), $"{file}: Standalone {p}");
                Assert.That(platforms["Standalone:" + p].Settings["CPU"], Is.EqualTo(mine ? "x86_64" : "None"), $"{file}: Standalone {p} CPU");
                Assert.That(platforms["'':Any"].Settings["Exclude " + p], Is.EqualTo(mine ? "0" : "1"), $"{file}: Exclude {p}");
            }
        });
    }

    [Test]
    public void ManagedAssemblies_AreImportedForEveryPlatform_WithReferencesValidated()
    {
        string[] dlls = Directory.GetFiles(PathOf("Runtime"), "*.dll");
        Assert.That(dlls, Has.Length.GreaterThan(5));
        Assert.Multiple(() =>
        {
            foreach (string dll in dlls)
            {
                string meta = File.ReadAllText(dll + ".meta");
                Assert.That(meta, Does.Contain("PluginImporter:").And.Contain("  validateReferences: 1\n"), dll);
                Assert.That(PlatformData(meta)["Any:"].Enabled, Is.True, dll);
            }
        });
    }

    [Test]
    public void EveryAssemblyTheInteropDllNeeds_IsInRuntimeOrInNetStandard21()
    {
        var framework = NetStandard21Assemblies();
        var shipped = Directory.GetFiles(PathOf("Runtime"), "*.dll").ToDictionary(f => Path.GetFileNameWithoutExtension(f), StringComparer.OrdinalIgnoreCase);
        var missing = new List<string>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var pending = new Queue<string>(["SvdQuant.Interop"]);
        while (pending.Count > 0)
        {
            string name = pending.Dequeue();
            foreach (AssemblyName reference in References(shipped[name]))
            {
                if (framework.Contains(reference.Name!) || !seen.Add(reference.Name!))
                {
                    continue;
                }

                if (shipped.ContainsKey(reference.Name!))
                {
                    pending.Enqueue(reference.Name!);
                }
                else
                {
                    missing.Add($"{name} -> {reference.Name} {reference.Version}");
                }
            }
        }

        Assert.That(missing, Is.Empty, "assemblies Unity would not find");
        Assert.That(seen, Does.Contain("System.Runtime.CompilerServices.Unsafe").And.Contain("CommunityToolkit.HighPerformance"), "the closure was walked");
    }

    // The facades of the .NET Standard 2.1 reference pack (the restore of the netstandard2.1 build fetched it) and netstandard itself.
    private static HashSet<string> NetStandard21Assemblies()
    {
        string packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string refs = Path.Combine(packages, "netstandard.library.ref", "2.1.0", "ref", "netstandard2.1");
        Assert.That(Directory.Exists(refs), Is.True, $"the .NET Standard 2.1 reference pack at {refs}");
        return Directory.GetFiles(refs, "*.dll").Select(Path.GetFileNameWithoutExtension).ToHashSet(StringComparer.OrdinalIgnoreCase)!;
    }

    private static List<AssemblyName> References(string path)
    {
        using var pe = new PEReader(File.OpenRead(path));
        MetadataReader reader = pe.GetMetadataReader();
        return reader.AssemblyReferences.Select(h => reader.GetAssemblyReference(h).GetAssemblyName()).ToList();
    }

    private static string? TargetFramework(string path)
    {
        using var pe = new PEReader(File.OpenRead(path));
        MetadataReader reader = pe.GetMetadataReader();
        foreach (CustomAttributeHandle h in reader.GetAssemblyDefinition().GetCustomAttributes())
        {
            CustomAttribute attribute = reader.GetCustomAttribute(h);
            var ctor = reader.GetMemberReference((MemberReferenceHandle)attribute.Constructor);
            var type = reader.GetTypeReference((TypeReferenceHandle)ctor.Parent);
            if (reader.GetString(type.Name) == "TargetFrameworkAttribute")
            {
                BlobReader blob = reader.GetBlobReader(attribute.Value);
                blob.ReadUInt16(); // prolog
                return blob.ReadSerializedString();
            }
        }

        return null;
    }

    private sealed record Platform(bool Enabled, Dictionary<string, string> Settings);

    // PluginImporter's platformData list: "- first: {KEY: VALUE}" then "second: {enabled, settings}", keyed "KEY:VALUE".
    private static Dictionary<string, Platform> PlatformData(string meta)
    {
        var result = new Dictionary<string, Platform>();
        string[] lines = meta.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i] != "  - first:")
            {
                continue;
            }

            string[] first = lines[i + 1].Trim().Split(':', 2);
            Assert.That(lines[i + 2], Is.EqualTo("    second:"));
            bool enabled = lines[i + 3].Trim() switch { "enabled: 1" => true, "enabled: 0" => false, var l => throw new AssertionException(l) };
            var settings = new Dictionary<string, string>();
            for (int j = i + 5; j < lines.Length && lines[j].StartsWith("        ", StringComparison.Ordinal); j++)
            {
                string[] kv = lines[j].Trim().Split(':', 2);
                settings[kv[0]] = kv[1].Trim();
            }

            result.Add(first[0] + ":" + first[1].Trim(), new Platform(enabled, settings));
        }

        return result;
    }
}
