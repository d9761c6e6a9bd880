using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Quantization;

namespace SvdQuant.Tests;

/// <summary>
/// `--backend cpu|cuda|auto` and `--device N` on the commands that start an engine, and `svdquant devices`
/// (issue 18). The assertions for a machine without CUDA are skipped where an NVIDIA driver is installed
/// (<see cref="CudaMachine"/>), except those that make CUDA unusable through SVDQ_CUDA_LIBRARY.
/// </summary>
public sealed class CliBackendTests : CliFixture
{
    private const int Tokens = 16, InFeatures = 128, OutFeatures = 48;

    [TestCase("demo")]
    [TestCase("quantize")]
    [TestCase("encode")]
    [TestCase("generate")]
    [TestCase("flux", "forward")]
    [TestCase("vae", "decode")]
    [TestCase("vae", "encode")]
    [TestCase("layer", "quantize")]
    [TestCase("layer", "run")]
    public void EveryEngineCommand_TakesBackendAndDevice(params string[] command)
    {
        CliResult result = Run([.. command, "--help"]);

        AssertSucceeded(result);
        Assert.That(result.Output, Does.Contain("--backend").And.Contain("--device"));
    }

    /// <summary>The CPU's row (named as the engine names it), and CUDA's GPUs or the line saying why it cannot run.</summary>
    [Test]
    public void Devices_ListsTheCpuAndCuda()
    {
        CliResult result = Run("devices");

        AssertSucceeded(result);
        DeviceInfo cpu = Engine.GetDevices(Backend.Cpu).Single();
        Assert.That(result.Output, Does.Match($@"│ cpu\s+│\s+0 │ {Regex.Escape(cpu.Name)}\s+│\s+│\s+{cpu.Multiprocessors} cores │"));
        if (Engine.IsAvailable(Backend.Cuda, out _))
        {
            foreach (DeviceInfo gpu in Engine.GetDevices(Backend.Cuda))
            {
                Assert.That(result.Output, Does.Match($@"│ cuda\s+│\s+{gpu.Ordinal} │ {Regex.Escape(gpu.Name)}\s+│\s+{gpu.ComputeCapability} │"));
            }
        }
        else
        {
            Assert.That(result.Output, Does.Match($"(?m)^cuda: not available: .*{CudaMachine.Reason}").IgnoreCase);
            Assert.That(result.Output, Does.Not.Contain("│ cuda "));
        }
    }

    /// <summary>A command asked for CUDA where it cannot run: the engine's reason on one line, exit code 2, no file.</summary>
    [TestCase("demo", "--tokens", "8")]
    [TestCase("layer", "run")]
    [TestCase("layer", "quantize")]
    public void BackendCuda_WhereCudaCannotRun_Exits2WithTheReason(params string[] command)
    {
        CudaMachine.AssumeCudaCannotRun();
        string[] arguments = Arguments(command);

        CliResult result = Run([.. arguments, "--backend", "cuda"]);

        AssertRejected(result);
        Assert.That(result.Errors, Does.Match(CudaMachine.Reason).IgnoreCase);
        Assert.That(File.Exists(TempPath("out.safetensors")) || File.Exists(TempPath("out.png")), Is.False, "no output file");
    }

    /// <summary>
    /// SVDQ_CUDA_LIBRARY names where the engine looks for libsvdquant_cuda: a path with nothing there makes
    /// CUDA unusable on any machine, and both `devices` and a command asked for CUDA name that path and the
    /// NuGet package that brings the library.
    /// </summary>
    [Test]
    public void CudaLibraryOverride_IsNamedByDevicesAndByACudaCommand()
    {
        string missing = TempPath(Path.Combine("no-such-folder", "libsvdquant_cuda.so"));
        var variable = ("SVDQ_CUDA_LIBRARY", missing);

        CliResult devices = RunWith(variable, "devices");
        CliResult command = RunWith(variable, [.. Arguments(["layer", "run"]), "--backend", "cuda"]);

        AssertSucceeded(devices);
        Assert.That(devices.Output, Does.Match(@"(?m)^cuda: not available: .*" + Regex.Escape(missing) + ".*SvdQuant.Interop.Runtime.Cuda"));
        AssertRejected(command, missing, "add the NuGet package SvdQuant.Interop.Runtime.Cuda");
    }

    /// <summary>Where CUDA cannot run, --backend auto runs on the CPU: the same output as --backend cpu, bit for bit.</summary>
    [Test]
    public void BackendAuto_WhereCudaCannotRun_RunsAsTheCpu()
    {
        CudaMachine.AssumeCudaCannotRun();
        string[] arguments = Arguments(["layer", "run"]);

        CliResult cpu = Run([.. arguments, "--backend", "cpu"]);
        File.Move(TempPath("out.safetensors"), TempPath("cpu.safetensors"));
        CliResult auto = Run([.. arguments, "--backend", "auto"]);

        AssertSucceeded(cpu);
        AssertSucceeded(auto);
        float[,] expected = ReadMatrix(TempPath("cpu.safetensors"), "y");
        Assert.That(expected.Cast<float>(), Has.Some.Not.Zero);
        Assert.That(ReadMatrix(TempPath("out.safetensors"), "y"), Is.EqualTo(expected));
    }

    [TestCase("--backend", "tpu", "--backend tpu", "cpu, cuda or auto")]
    [TestCase("--backend", "", "cpu, cuda or auto")]
    [TestCase("--device", "-1", "-1")]
    public void BadBackendOrDevice_Exits2NamingIt(string option, string value, params string[] named)
    {
        CliResult result = Run([.. Arguments(["layer", "run"]), option, value]);

        AssertRejected(result, named);
        Assert.That(File.Exists(TempPath("out.safetensors")), Is.False);
    }

    /// <summary>The command line of <paramref name="command"/> with valid inputs written to this test's folder.</summary>
    private string[] Arguments(string[] command)
    {
        if (command[0] == "demo")
        {
            return [.. command, "--output", TempPath("out.png")];
        }

        SyntheticLayer data = SyntheticLayer.Create(Tokens, InFeatures, OutFeatures, seed: 5);
        string layer = TempPath("L.safetensors");
        Write(layer, ("weight", data.Weight), ("calib", data.Calibration));
        if (command[1] == "quantize")
        {
            return [.. command, "--input", layer, "--output", TempPath("out.safetensors")];
        }

        string quantized = TempPath("Q.safetensors"), x = TempPath("X.safetensors");
        using (var engine = new Engine())
        {
            Quantizer.QuantizeFile(engine, layer, quantized, new QuantizerOptions { Rank = 16 });
        }

        Write(x, ("x", data.Activations));
        return [.. command, "--layer", quantized, "--input", x, "--output", TempPath("out.safetensors")];
    }
}
