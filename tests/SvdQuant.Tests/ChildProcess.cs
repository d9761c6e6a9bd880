using System;
using System.Diagnostics;
using NUnit.Framework;

namespace SvdQuant.Tests;

/// <summary>Runs a program to its end, as a user would start it, and collects what it wrote.</summary>
internal static class ChildProcess
{
    /// <summary>Runs <paramref name="program"/> with <paramref name="arguments"/>; fails the test if it outlives <paramref name="timeout"/>.</summary>
    public static (int ExitCode, string Output, string Errors) Run(string program, TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        Assert.That(process.WaitForExit(timeout), Is.True, $"{program} {string.Join(' ', arguments)} finished within {timeout}");
        return (process.ExitCode, output, errors.Result);
    }
}
