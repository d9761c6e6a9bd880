using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using NUnit.Framework;
using SvdQuant.Models;

namespace SvdQuant.Tests;

/// <summary>
/// Installs the built NuGet package into a fresh console app, as a user would, and runs it.
/// Needs SVDQ_PACKAGE_SOURCE, a folder holding SvdQuant.Interop.&lt;version&gt;.nupkg.
/// </summary>
[NonParallelizable]
public sealed class PackageSmokeTests
{
    private const string SourceVariable = "SVDQ_PACKAGE_SOURCE";
    private static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(5);

    // The consumer's program; the test computes the same checksum in-process.
    private const string ConsumerProgram = """
        using System;
        using SvdQuant;
        using SvdQuant.Models;

        using var engine = new Engine();
        var weight = new float[8, 64];
        var x = new float[2, 64];
        for (int i = 0; i < 8 * 64; i++) weight[i / 64, i % 64] = MathF.Sin(i);
        for (int i = 0; i < 2 * 64; i++) x[i / 64, i % 64] = MathF.Cos(i);
        using var layer = LinearLayer.Create(engine, LinearScheme.W4A4, weight);
        float[,] y = layer.Forward(engine, x);
        double checksum = 0;
        foreach (float v in y) checksum += v;
        Console.WriteLine($"svdquant {Engine.Version} ok {y.GetLength(0)}x{y.GetLength(1)} checksum {checksum.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}");
        """;

    [Test]
    public void Package_InstallsAndRunsInAFreshConsoleApp()
    {
        string? source = Environment.GetEnvironmentVariable(SourceVariable);
        if (string.IsNullOrEmpty(source))
        {
            Assert.Ignore($"set {SourceVariable} (./build.sh test does) to run");
        }

        string version = PackageVersion();
        string package = Path.Combine(source!, $"SvdQuant.Interop.{version}.nupkg");
        Assert.That(File.Exists(package), Is.True, $"{package} (the version these tests were built with)");

        string root = Directory.CreateTempSubdirectory("svdq-package-smoke-").FullName;
        try
        {
            // An extra source beside the defaults: the package's dependencies come from the registry.
            File.WriteAllText(Path.Combine(root, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <add key="svdquant-local" value="{Path.GetFullPath(source!)}" />
                  </packageSources>
                </configuration>
                """);
            // A private package cache, so no stale copy of this version is used.
            string packages = Path.Combine(root, "packages");
            string app = Path.Combine(root, "app");

            Dotnet(root, packages, "new", "console", "--framework", "net10.0", "--output", app);
            Dotnet(root, packages, "add", app, "package", "SvdQuant.Interop", "--version", version);
            File.WriteAllText(Path.Combine(app, "Program.cs"), ConsumerProgram);
            string output = Dotnet(root, packages, "run", "--project", app, "--configuration", "Release");

            Assert.That(output, Does.Contain($"svdquant {Engine.Version} ok 2x8 checksum "));
            double checksum = double.Parse(output[(output.LastIndexOf("checksum ", StringComparison.Ordinal) + 9)..].Trim(), CultureInfo.InvariantCulture);
            Assert.That(checksum, Is.EqualTo(InProcessChecksum()).Within(1e-4).Percent);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static double InProcessChecksum()
    {
        using var engine = new Engine();
        var weight = new float[8, 64];
        var x = new float[2, 64];
        for (int i = 0; i < 8 * 64; i++)
        {
            weight[i / 64, i % 64] = MathF.Sin(i);
        }

        for (int i = 0; i < 2 * 64; i++)
        {
            x[i / 64, i % 64] = MathF.Cos(i);
        }

        using LinearLayer layer = LinearLayer.Create(engine, LinearScheme.W4A4, weight);
        return layer.Forward(engine, x).Cast<float>().Sum(v => (double)v);
    }

    private static string PackageVersion()
    {
        string informational = typeof(Engine).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        int metadata = informational.IndexOf('+', StringComparison.Ordinal);
        return metadata < 0 ? informational : informational[..metadata];
    }

    private static string Dotnet(string workingDirectory, string nugetPackages, params string[] arguments)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = workingDirectory,
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

        start.Environment["NUGET_PACKAGES"] = nugetPackages;
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";

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
        Assert.That(process.ExitCode, Is.Zero, $"dotnet {string.Join(' ', arguments)}:\n{output}");
        return output.ToString();
    }
}
