using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using NUnit.Framework;
using SvdQuant.Formats;

namespace SvdQuant.Tests;

/// <summary>
/// Runs the built `svdquant` in a child process, as users run it, with a fresh temporary folder per
/// test; and checks the contract for input the CLI rejects (README "The command line"): exit code 2,
/// one line on stderr naming the problem, no output file.
/// </summary>
public abstract class CliFixture
{
    /// <summary>The tiny FLUX reference model (see native/tests/data/flux-tiny/README.md).</summary>
    protected static readonly string FluxTiny = Path.Combine(AppContext.BaseDirectory, "data", "flux-tiny");

    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    /// <summary>Where the test project's build put svdquant.dll (an AssemblyMetadata of this assembly).</summary>
    private static readonly string CliPath = typeof(CliFixture).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "SvdQuantCli").Value!;

    private string _dir = null!;

    [SetUp]
    public void CreateFolder() => _dir = Directory.CreateTempSubdirectory("svdq-cli-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_dir, recursive: true);

    /// <summary>A path in this test's temporary folder.</summary>
    protected string TempPath(string name) => Path.Combine(_dir, name);

    protected static CliResult Run(params string[] arguments) => Finish(Start(arguments), arguments);

    /// <summary>Runs the CLI with one more environment variable set.</summary>
    protected static CliResult RunWith((string Name, string Value) variable, params string[] arguments) =>
        Finish(Start(variable, arguments), arguments);

    /// <summary>Starts the CLI without waiting for it; <see cref="Finish"/> collects what it left.</summary>
    protected static Process Start(params string[] arguments) => Start(null, arguments);

    private static Process Start((string Name, string Value)? variable, string[] arguments)
    {
        // A CLI that is not there is a failure, not a reason to skip: these tests are its only check.
        Assert.That(File.Exists(CliPath), Is.True, $"the CLI is not built at {CliPath} (building tests/SvdQuant.Tests builds it)");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        if (variable is (string name, string value))
        {
            start.Environment[name] = value;
        }

        start.ArgumentList.Add(CliPath);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return Process.Start(start)!;
    }

    // Sent straight from this process: spawning `kill` can take longer than
    // flux-tiny's whole quantization on a loaded machine.
    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    /// <summary>
    /// Skips a signal test where the signal cannot reach the CLI: a process inherits ignored signals,
    /// and a background job of a non-interactive shell starts with SIGINT ignored, so the child
    /// would never see it. Call before starting the CLI.
    /// </summary>
    protected static void AssumeChildrenReceive(int signal)
    {
        string? mask = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        Assert.That(mask, Is.Not.Null, "/proc/self/status has no SigIgn line");
        ulong ignored = Convert.ToUInt64(mask!.Substring("SigIgn:".Length).Trim(), 16);
        if ((ignored & (1UL << (signal - 1))) != 0)
        {
            Assert.Ignore($"signal {signal} is ignored by this test process (a background job of a non-interactive shell ignores SIGINT), so the CLI would inherit that");
        }
    }

    protected static void SendSignal(Process process, int signal) =>
        Assert.That(kill(process.Id, signal), Is.EqualTo(0), $"kill({process.Id}, {signal}) failed");

    protected static CliResult Finish(Process process, params string[] arguments)
    {
        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(Timeout))
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"svdquant {string.Join(' ', arguments)} took longer than {Timeout}");
            }

            return new CliResult(process.ExitCode, output.Result, errors.Result);
        }
    }

    /// <summary>Exit code 2 and one line on stderr that contains every one of <paramref name="named"/>.</summary>
    protected static void AssertRejected(CliResult result, params string[] named)
    {
        string line = result.Errors.Trim();
        Assert.That(result.ExitCode, Is.EqualTo(2), $"exit code; stderr: {result.Errors}; stdout: {result.Output}");
        Assert.That(line, Does.StartWith("svdquant: ").And.Not.Contain('\n'), "one line on stderr");
        foreach (string name in named)
        {
            Assert.That(line, Does.Contain(name));
        }
    }

    /// <summary>Asserts the command succeeded, with its stderr as the message when it did not.</summary>
    protected static void AssertSucceeded(CliResult result) =>
        Assert.That(result.ExitCode, Is.Zero, $"stderr: {result.Errors}; stdout: {result.Output}");

    /// <summary>Writes F32 matrices to a safetensors file.</summary>
    protected static void Write(string path, params (string Name, float[,] Value)[] tensors)
    {
        using var writer = new SafeTensorsWriter();
        foreach ((string name, float[,] value) in tensors)
        {
            writer.AddTensor(name, [value.GetLength(0), value.GetLength(1)], Flatten(value));
        }

        writer.Save(path);
    }

    protected static float[] Flatten(float[,] matrix)
    {
        var flat = new float[matrix.Length];
        Buffer.BlockCopy(matrix, 0, flat, 0, flat.Length * sizeof(float));
        return flat;
    }

    /// <summary>A tensor of a safetensors file as a matrix [rows, columns].</summary>
    protected static float[,] ReadMatrix(string path, string name)
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        TensorInfo info = file.GetTensor(name);
        Assert.That(info.Shape, Has.Count.EqualTo(2), $"{name} is a matrix");
        float[] values = file.ReadFloats(name);
        var matrix = new float[info.Shape[0], info.Shape[1]];
        Buffer.BlockCopy(values, 0, matrix, 0, values.Length * sizeof(float));
        return matrix;
    }
}

/// <summary>What one run of the CLI left: exit code, stdout and stderr.</summary>
public sealed record CliResult(int ExitCode, string Output, string Errors);
