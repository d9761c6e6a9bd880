using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using NUnit.Framework;
using SvdQuant.Consumer;
using SvdQuant.Native;

namespace SvdQuant.Tests;

/// <summary>
/// The built packages as users install them: from a local feed with <c>dotnet add package</c>, a netstandard2.1
/// class library (running <see cref="ConsumerChecks"/>: a layer forward, a FLUX forward, a generation with
/// progress), consumed by a net8.0 app (rolled forward to this runtime where no 8.0 runtime is installed) and a
/// net10.0 app. Their output must equal the same checks run in this process. Needs SVDQ_PACKAGE_SOURCE, the
/// folder holding SvdQuant.Interop.&lt;version&gt;.nupkg (and SvdQuant.Interop.Runtime.Cuda's where CUDA was built).
/// </summary>
[NonParallelizable]
public sealed class PackageSmokeTests
{
    private const string SourceVariable = "SVDQ_PACKAGE_SOURCE";
    private static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(5);

    // The apps' program: the library's checks, or an engine asked for CUDA.
    private const string AppProgram = """
        using System;
        using SvdQuant;

        if (args[0] == "--cuda")
        {
            try
            {
                using var engine = new Engine(new EngineOptions { Backend = Backend.Cuda });
                Console.WriteLine("cuda ok: " + engine.Device);
            }
            catch (SvdQuantException e)
            {
                Console.WriteLine("cuda refused: " + e.Message);
            }

            return;
        }

        Console.Write(SvdQuant.Consumer.ConsumerChecks.Run(args[0]));
        """;

    private string _source = "";
    private string _root = "";
    private string _version = "";

    [OneTimeSetUp]
    public void BuildConsumers()
    {
        string? source = Environment.GetEnvironmentVariable(SourceVariable);
        if (string.IsNullOrEmpty(source))
        {
            Assert.Ignore($"set {SourceVariable} (./build.sh test does) to run");
        }

        _source = Path.GetFullPath(source!);
        _version = NativeLibraryCheck.ManagedVersion;
        string package = Path.Combine(_source, $"SvdQuant.Interop.{_version}.nupkg");
        Assert.That(File.Exists(package), Is.True, $"{package} (the version these tests were built with)");

        _root = Directory.CreateTempSubdirectory("svdq-package-smoke-").FullName;
        // An extra source beside the defaults: the package's dependencies come from the registry.
        File.WriteAllText(Path.Combine(_root, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="svdquant-local" value="{_source}" />
              </packageSources>
            </configuration>
            """);

        string library = Path.Combine(_root, "lib");
        Dotnet("new", "classlib", "--framework", "netstandard2.1", "--output", library);
        File.Delete(Path.Combine(library, "Class1.cs"));
        string checks = typeof(PackageSmokeTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "ConsumerChecksSource").Value!;
        File.Copy(checks, Path.Combine(library, "ConsumerChecks.cs"));
        Dotnet("add", library, "package", "SvdQuant.Interop", "--version", _version);

        foreach (string framework in new[] { "net8.0", "net10.0" })
        {
            string app = AppFolder(framework);
            // The SDK's template offers only its own framework: retarget the project file.
            Dotnet("new", "console", "--framework", "net10.0", "--output", app);
            string project = Path.Combine(app, $"app-{framework}.csproj");
            File.WriteAllText(project, File.ReadAllText(project).Replace("<TargetFramework>net10.0</TargetFramework>", $"<TargetFramework>{framework}</TargetFramework>"));
            Dotnet("add", app, "reference", Path.Combine(library, "lib.csproj"));
            File.WriteAllText(Path.Combine(app, "Program.cs"), AppProgram);
            // A net8.0 app runs on the newest runtime installed when 8.0 is not.
            Dotnet("build", app, "--configuration", "Release", "-p:RollForward=Major");
        }
    }

    [OneTimeTearDown]
    public void DeleteConsumers()
    {
        if (_root.Length > 0)
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [TestCase("net8.0")]
    [TestCase("net10.0")]
    public void App_ThroughANetStandardLibrary_GivesTheResultsOfThisProcess(string framework)
    {
        string output = Dotnet(AppDll(framework), FluxTinyGeneration.Model);

        string expected = ConsumerChecks.Run(FluxTinyGeneration.Model);
        Assert.That(expected, Does.Contain($"engine {Engine.Version}").And.Contain("progress 1/2 2/2"));
        Assert.That(output.ReplaceLineEndings().Trim(), Is.EqualTo(expected.ReplaceLineEndings().Trim()));
    }

    [Test]
    public void App_BindsTheAssemblyOfItsFramework()
    {
        // net8.0 apps get the net8.0 assembly (with the library resolver), not the library's netstandard2.1 one.
        foreach (string framework in new[] { "net8.0", "net10.0" })
        {
            string assembly = Path.Combine(Path.GetDirectoryName(AppDll(framework))!, "SvdQuant.Interop.dll");
            string packaged = Path.Combine(_root, "packages", "svdquant.interop", _version, "lib", framework, "SvdQuant.Interop.dll");
            Assert.That(File.ReadAllBytes(assembly), Is.EqualTo(File.ReadAllBytes(packaged)), framework);
        }
    }

    /// <summary>The engine missing for this platform: one exception listing every path tried and naming the runtime identifier.</summary>
    [Test]
    public void App_WithoutTheNativeLibrary_FailsListingEveryPathTried()
    {
        string original = Path.GetDirectoryName(AppDll("net10.0"))!;
        string copy = Path.Combine(_root, "no-native");
        CopyFolder(original, copy);
        string rid = NativePlatform.RuntimeIdentifier();
        string file = NativePlatform.FileName("svdquant");
        string removed = Path.Combine(copy, "runtimes", rid, "native", file);
        File.Delete(removed);

        (int exitCode, string output) = Run(Path.Combine(copy, "app-net10.0.dll"), FluxTinyGeneration.Model);

        Assert.That(exitCode, Is.Not.Zero);
        Assert.That(output, Does.Contain("DllNotFoundException").And.Contain($"{file} for runtime identifier {rid}"));
        Assert.That(output, Does.Contain($"{removed}: not found").And.Contain($"{Path.Combine(copy, file)}: not found"));
    }

    /// <summary>Without SvdQuant.Interop.Runtime.Cuda, an engine asked for CUDA names the package to add.</summary>
    [Test]
    public void Cuda_WithoutTheRuntimePackage_NamesThePackage()
    {
        string output = Dotnet(AppDll("net8.0"), "--cuda");

        Assert.That(output, Does.Contain("cuda refused: ").And.Contain($"add the NuGet package {NativePlatform.CudaPackage}"));
    }

    /// <summary>The CUDA runtime package puts libsvdquant_cuda beside the engine, where the engine looks for it.</summary>
    [Test]
    public void Cuda_TheRuntimePackage_PutsTheLibraryBesideTheEngine()
    {
        if (!File.Exists(Path.Combine(_source, $"{NativePlatform.CudaPackage}.{_version}.nupkg")))
        {
            Assert.Ignore($"no {NativePlatform.CudaPackage} package: this build made no CUDA backend");
        }

        string app = Path.Combine(_root, "app-cuda");
        Dotnet("new", "console", "--framework", "net10.0", "--output", app);
        Dotnet("add", app, "package", NativePlatform.CudaPackage, "--version", _version);
        File.WriteAllText(Path.Combine(app, "Program.cs"), AppProgram.Replace("Console.Write(SvdQuant.Consumer.ConsumerChecks.Run(args[0]));", ""));
        Dotnet("build", app, "--configuration", "Release");

        string native = Path.Combine(app, "bin", "Release", "net10.0", "runtimes", NativePlatform.RuntimeIdentifier(), "native");
        Assert.That(File.Exists(Path.Combine(native, NativePlatform.FileName("svdquant"))), Is.True, "the engine, from SvdQuant.Interop");
        Assert.That(File.Exists(Path.Combine(native, NativePlatform.FileName("svdquant_cuda"))), Is.True, "the CUDA backend beside it");
        string output = Dotnet(Path.Combine(app, "bin", "Release", "net10.0", "app-cuda.dll"), "--cuda");
        // Found and loaded: it runs, or refuses for the machine (driver, GPU), never for a missing library.
        Assert.That(output, Does.Contain("cuda ok: cuda:").Or.Not.Contain("is not there"));
        Assert.That(output, Does.Not.Contain(NativePlatform.CudaPackage));
    }

    private string AppFolder(string framework) => Path.Combine(_root, $"app-{framework}");

    private string AppDll(string framework) => Path.Combine(AppFolder(framework), "bin", "Release", framework, $"app-{framework}.dll");

    private static void CopyFolder(string from, string to)
    {
        foreach (string file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    /// <summary>Runs dotnet with <paramref name="arguments"/> in the test's folder and asserts it succeeded.</summary>
    private string Dotnet(params string[] arguments)
    {
        (int exitCode, string output) = Run(arguments);
        Assert.That(exitCode, Is.Zero, $"dotnet {string.Join(' ', arguments)}:\n{output}");
        return output;
    }

    private (int ExitCode, string Output) Run(params string[] arguments)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = _root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The test host's MSBuild settings would leak into the child build.
        foreach (string name in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }

        // A private package cache, so no stale copy of this version is used.
        start.Environment["NUGET_PACKAGES"] = Path.Combine(_root, "packages");
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment.Remove("SVDQ_CUDA_LIBRARY");

        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => output.AppendLine(e.Data);
        process.ErrorDataReceived += (_, e) => output.AppendLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(StepTimeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"dotnet {string.Join(' ', arguments)} took longer than {StepTimeout}:\n{output}");
        }

        process.WaitForExit();
        return (process.ExitCode, output.ToString());
    }
}
