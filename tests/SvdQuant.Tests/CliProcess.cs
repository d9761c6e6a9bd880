using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Reflection;
using NUnit.Framework;

namespace SvdQuant.Tests;

/// <summary>The built <c>svdquant</c> CLI run in a child process, as users run it.</summary>
internal static class CliProcess
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    /// <summary>Runs <c>svdquant arguments...</c>; skips the test when the CLI is not built.</summary>
    public static (int ExitCode, string Output, string Errors) Run(params string[] arguments)
    {
        string cli = typeof(CliProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "SvdQuantCli").Value!;
        Assume.That(File.Exists(cli), $"the CLI is not built at {cli}");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(cli);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"svdquant {string.Join(' ', arguments)} took longer than {Timeout}");
        }

        return (process.ExitCode, output.Result, errors.Result);
    }
}
