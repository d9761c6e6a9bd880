using System.IO;
using System.Linq;
using NUnit.Framework;
using SvdQuant.Models;
using SvdQuant.Formats;
using SvdQuant.Quantization;

namespace SvdQuant.Tests;

/// <summary>`svdquant quantize` on the tiny reference model (2 double + 2 single blocks), in a child process.</summary>
public sealed class CliQuantizeTests : CliFixture
{
    // 2 double blocks x 10 linears + 2 single blocks x 5 = 30; 6 of them adaLN (AWQ W4A16).
    private const int W4A4Layers = 24, W4A16Layers = 6;

    private static readonly string Calibration = Path.Combine(FluxTiny, "inputs.safetensors");

    /// <summary>
    /// Each --method and --format word gives a checkpoint of ours in that number format, with the
    /// rank asked for where the method has a branch, that `flux forward` runs: its output's error
    /// against diffusers' float64 output within 5% of the measured one: measured at the fp32 levels,
    /// and at Avx512Bf16 (its W4A16 adaNorm layers read BF16 activations and the 4-bit model's
    /// attention is BF16) measuredBf16.
    /// </summary>
    [TestCase("svdquant", "int4", NumberFormat.Int4, 16, 0.06699, 0.06665)]
    [TestCase("smoothquant", "int4", NumberFormat.Int4, 0, 0.08964, 0.10496)]
    [TestCase("lowrank", "int4", NumberFormat.Int4, 16, 0.08636, 0.08375)]
    [TestCase("rtn", "int4", NumberFormat.Int4, 0, 0.08098, 0.09585)]
    [TestCase("svdquant", "nvfp4", NumberFormat.Nvfp4, 16, 0.09287, 0.09744)]
    [TestCase("rtn", "nvfp4", NumberFormat.Nvfp4, 0, 0.09341, 0.09468)]
    public void Quantize_WritesACheckpointThatRuns(string method, string format, NumberFormat precision, int rank, double measuredFp32,
        double measuredBf16)
    {
        double measured;
        using (var engine = new Engine()) measured = engine.CpuLevel == CpuLevel.Avx512Bf16 ? measuredBf16 : measuredFp32;
        string model = TempPath("q.safetensors"), output = TempPath("out.safetensors");

        CliResult quantized = Run("quantize", "--model", FluxTiny, "--output", model, "--method", method, "--format", format,
            "--rank", "16", "--calib", Calibration);
        AssertSucceeded(quantized);
        CliResult ran = Run("flux", "forward", "--model", model, "--inputs", Calibration, "--output", output);
        AssertSucceeded(ran);

        CheckpointInfo info = Inspect(model);
        double error = CliFluxForwardTests.MaxRelativeError(output);
        TestContext.Out.WriteLine($"quantize --method {method} --format {format}: rank {info.Rank}, flux output max rel error {error:0.00000}");
        Assert.Multiple(() =>
        {
            Assert.That(info.Flavour, Is.EqualTo(CheckpointFlavour.SvdQuant));
            Assert.That(info.Format, Is.EqualTo(precision));
            Assert.That(info.W4A4Layers, Is.EqualTo(W4A4Layers));
            Assert.That(info.W4A16Layers, Is.EqualTo(W4A16Layers));
            Assert.That(info.Rank, Is.EqualTo(rank));
            Assert.That(quantized.Output, Does.Contain(Calibration), "reports the calibration file it used");
            Assert.That(error, Is.InRange(0.95 * measured, 1.05 * measured), $"measured {measured}");
        });
    }

    /// <summary>The defaults (svdquant, INT4, rank 32, synthetic calibration) and a --rank of 48.</summary>
    [TestCase(null, 32)]
    [TestCase("48", 48)]
    public void Quantize_Rank(string? rank, int expected)
    {
        string model = TempPath("q.safetensors");

        CliResult result = rank is null
            ? Run("quantize", "--model", FluxTiny, "--output", model)
            : Run("quantize", "--model", FluxTiny, "--output", model, "--rank", rank);

        AssertSucceeded(result);
        CheckpointInfo info = Inspect(model);
        Assert.Multiple(() =>
        {
            Assert.That(info.Format, Is.EqualTo(NumberFormat.Int4));
            Assert.That(info.Rank, Is.EqualTo(expected));
            Assert.That(result.Output, Does.Contain("synthetic inputs"));
        });
    }

    /// <summary>
    /// --calib reaches the quantizer: the CLI writes the very tensors Quantizer.QuantizeFlux writes with
    /// that calibration file. (Synthetic calibration gives other tensors, and a flux-tiny error only
    /// 3.4% away, 0.0693 against 0.0670: inside the error band, so only this catches a lost --calib.)
    /// </summary>
    [Test]
    public void Quantize_WithCalib_WritesWhatTheQuantizerWritesWithThatCalibration()
    {
        string fromCli = TempPath("cli.safetensors"), fromApi = TempPath("api.safetensors");

        AssertSucceeded(Run("quantize", "--model", FluxTiny, "--output", fromCli, "--rank", "16", "--calib", Calibration));
        using (var engine = new Engine())
        {
            Quantizer.QuantizeFlux(engine, FluxTiny, fromApi, new QuantizerOptions { Rank = 16 }, Calibration);
        }

        using SafeTensorsFile cli = SafeTensorsFile.Open(fromCli), api = SafeTensorsFile.Open(fromApi);
        Assert.That(cli.Tensors.Select(t => t.Name), Is.EquivalentTo(api.Tensors.Select(t => t.Name)));
        foreach (TensorInfo tensor in api.Tensors)
        {
            Assert.That(System.MemoryExtensions.SequenceEqual(cli.GetData(tensor.Name), api.GetData(tensor.Name)), Is.True, tensor.Name);
        }
    }

    [TestCase("--format", "int8", "--format int8")]
    [TestCase("--method", "gptq", "--method gptq")]
    [TestCase("--rank", "20", "multiple of 16")]
    public void Quantize_BadOption_Exits2_AndLeavesNoFile(string option, string value, string named)
    {
        string model = TempPath("q.safetensors");

        CliResult result = Run("quantize", "--model", FluxTiny, "--output", model, option, value);

        AssertRejected(result, named);
        Assert.That(File.Exists(model), Is.False);
    }

    [Test]
    public void Quantize_CalibrationWithoutInputs_NamesTheTensor_AndLeavesNoFile()
    {
        string model = TempPath("q.safetensors"), calib = Path.Combine(FluxTiny, "expected.safetensors");

        CliResult result = Run("quantize", "--model", FluxTiny, "--output", model, "--calib", calib);

        AssertRejected(result, "hidden_states");
        Assert.That(File.Exists(model), Is.False);
    }

    [Test]
    public void Quantize_MissingModel_NamesIt_AndLeavesNoFile()
    {
        string model = TempPath("q.safetensors"), folder = TempPath("absent");

        CliResult result = Run("quantize", "--model", folder, "--output", model);

        AssertRejected(result, folder);
        Assert.That(File.Exists(model), Is.False);
    }

    private static CheckpointInfo Inspect(string path)
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        return file.DetectFlavour();
    }
}
