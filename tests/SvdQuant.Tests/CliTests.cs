using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Reflection;
using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Formats;

namespace SvdQuant.Tests;

/// <summary>
/// The `svdquant` command line run as users run it, in a child process: every command's help, and
/// the layer contract of issue 5 (exit code 2, a one-line error naming the tensor, no file left).
/// </summary>
public sealed class CliTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);
    private string _dir = null!;

    [SetUp]
    public void Start() => _dir = Directory.CreateTempSubdirectory("svdq-cli-").FullName;

    [TearDown]
    public void Stop() => Directory.Delete(_dir, recursive: true);

    [TestCase("--help")]
    [TestCase("demo", "--help")]
    [TestCase("quantize", "--help")]
    [TestCase("flux", "forward", "--help")]
    [TestCase("layer", "quantize", "--help")]
    [TestCase("layer", "run", "--help")]
    [TestCase("inspect", "--help")]
    public void EveryCommand_PrintsItsHelp(params string[] arguments)
    {
        (int exitCode, string output, string errors) = Run(arguments);
        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.Zero, errors);
            Assert.That(output, Does.Contain("USAGE:"));
        });
    }

    [Test]
    public void LayerQuantizeThenRun_WritesY()
    {
        SyntheticLayer data = SyntheticLayer.Create(tokens: 48, inFeatures: 256, outFeatures: 80, seed: 9);
        string layer = Path.Combine(_dir, "Q.safetensors"), x = Path.Combine(_dir, "X.safetensors"), y = Path.Combine(_dir, "Y.safetensors");
        Write(Path.Combine(_dir, "L.safetensors"), ("weight", data.Weight), ("calib", data.Calibration));
        Write(x, ("x", data.Activations));

        (int quantized, _, string quantizeErrors) = Run("layer", "quantize", "--input", Path.Combine(_dir, "L.safetensors"), "--output", layer, "--rank", "16");
        (int ran, _, string runErrors) = Run("layer", "run", "--layer", layer, "--input", x, "--output", y);

        Assert.That(quantized, Is.Zero, quantizeErrors);
        Assert.That(ran, Is.Zero, runErrors);
        using SafeTensorsFile file = SafeTensorsFile.Open(y);
        TensorInfo info = file.GetTensor("y");
        float[] values = file.ReadFloats("y");
        int t = data.Activations.GetLength(0), n = data.Weight.GetLength(0);
        var result = new float[t, n];
        Buffer.BlockCopy(values, 0, result, 0, values.Length * sizeof(float));
        Assert.Multiple(() =>
        {
            Assert.That(info.DType, Is.EqualTo(TensorDType.F32));
            Assert.That(info.Shape, Is.EqualTo(new long[] { t, n }));
            Assert.That(RelativeError.Of(result, ReferenceMath.Linear(data.Activations, data.Weight)), Is.InRange(1e-4, 0.2));
        });
    }

    [Test]
    public void LayerQuantize_WithoutCalibration_NamesIt_AndLeavesNoFile()
    {
        SyntheticLayer data = SyntheticLayer.Create(tokens: 8, inFeatures: 128, outFeatures: 32, seed: 3);
        string input = Path.Combine(_dir, "L.safetensors"), output = Path.Combine(_dir, "Q.safetensors");
        Write(input, ("weight", data.Weight));

        (int exitCode, _, string errors) = Run("layer", "quantize", "--input", input, "--output", output);

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(2));
            Assert.That(errors.Trim(), Does.Contain("calib").And.Not.Contain("\n"), "one line naming the tensor");
            Assert.That(File.Exists(output), Is.False);
        });
    }

    [Test]
    public void LayerQuantize_WithKNotAMultipleOf64_Exits2_AndLeavesNoFile()
    {
        SyntheticLayer data = SyntheticLayer.Create(tokens: 8, inFeatures: 100, outFeatures: 32, seed: 4);
        string input = Path.Combine(_dir, "L.safetensors"), output = Path.Combine(_dir, "Q.safetensors");
        Write(input, ("weight", data.Weight), ("calib", data.Calibration));

        (int exitCode, _, string errors) = Run("layer", "quantize", "--input", input, "--output", output);

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(2));
            Assert.That(errors, Does.Contain("64"));
            Assert.That(File.Exists(output), Is.False);
        });
    }

    private static void Write(string path, params (string Name, float[,] Value)[] tensors)
    {
        using var writer = new SafeTensorsWriter();
        foreach ((string name, float[,] value) in tensors)
        {
            var flat = new float[value.Length];
            Buffer.BlockCopy(value, 0, flat, 0, flat.Length * sizeof(float));
            writer.AddTensor(name, [value.GetLength(0), value.GetLength(1)], flat);
        }

        writer.Save(path);
    }

    private static (int ExitCode, string Output, string Errors) Run(params string[] arguments)
    {
        string cli = typeof(CliTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
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
