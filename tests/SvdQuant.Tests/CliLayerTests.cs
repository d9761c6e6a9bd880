using System.IO;
using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Formats;
using SvdQuant.Models;
using SvdQuant.Quantization;

namespace SvdQuant.Tests;

/// <summary>`svdquant layer quantize` and `svdquant layer run` in a child process.</summary>
public sealed class CliLayerTests : CliFixture
{
    private const int Tokens = 48, InFeatures = 256, OutFeatures = 80;

    /// <summary>
    /// Every --method and --format word: the file holds the layer the words ask for (precision, format,
    /// branch, smoothing), and `layer run` on it computes the layer: its error against float64 math
    /// (bias as large as the product) is the one measured for that method, within 5%.
    /// </summary>
    [TestCase("rtn", "int4", LinearScheme.W4A4, NumberFormat.Int4, 0, false, 0.1447)]
    [TestCase("smoothquant", "int4", LinearScheme.W4A4, NumberFormat.Int4, 0, true, 0.06485)]
    [TestCase("lowrank", "int4", LinearScheme.W4A4, NumberFormat.Int4, 16, false, 0.11887)]
    [TestCase("svdquant", "int4", LinearScheme.W4A4, NumberFormat.Int4, 16, true, 0.02994)]
    [TestCase("w4a16", "int4", LinearScheme.W4A16, NumberFormat.Int4, 0, false, 0.07731)]
    [TestCase("rtn", "nvfp4", LinearScheme.W4A4, NumberFormat.Nvfp4, 0, false, 0.09554)]
    [TestCase("smoothquant", "nvfp4", LinearScheme.W4A4, NumberFormat.Nvfp4, 0, true, 0.04084)]
    [TestCase("lowrank", "nvfp4", LinearScheme.W4A4, NumberFormat.Nvfp4, 16, false, 0.07378)]
    [TestCase("SvdQuant", "NVFP4", LinearScheme.W4A4, NumberFormat.Nvfp4, 16, true, 0.02471)]
    public void LayerQuantizeThenRun_EveryMethodAndFormat(
        string method, string format, LinearScheme precision, NumberFormat weightFormat, int rank, bool smooth, double measured)
    {
        (SyntheticLayer data, float[] bias) = WriteLayer(TempPath("L.safetensors"));
        string layerPath = TempPath("Q.safetensors"), x = TempPath("X.safetensors"), y = TempPath("Y.safetensors");
        Write(x, ("x", data.Activations));

        CliResult quantized = Run("layer", "quantize", "--input", TempPath("L.safetensors"), "--output", layerPath,
            "--method", method, "--format", format, "--rank", "16");
        AssertSucceeded(quantized);
        CliResult ran = Run("layer", "run", "--layer", layerPath, "--input", x, "--output", y);
        AssertSucceeded(ran);

        using var engine = new Engine();
        using LinearLayer layer = LinearLayer.Load(engine, layerPath);
        using SafeTensorsFile output = SafeTensorsFile.Open(y);
        double error = RelativeError.Of(ReadMatrix(y, "y"), ReferenceMath.Linear(data.Activations, data.Weight, bias));
        TestContext.Out.WriteLine($"layer quantize --method {method} --format {format}: y error vs float {error:0.00000}");
        Assert.Multiple(() =>
        {
            Assert.That(layer.Info.Scheme, Is.EqualTo(precision));
            Assert.That(layer.Info.Format, Is.EqualTo(weightFormat));
            Assert.That(layer.Info.Rank, Is.EqualTo(rank));
            Assert.That(layer.Info.HasSmooth, Is.EqualTo(smooth));
            Assert.That(layer.Info.HasBias, Is.True);
            Assert.That(output.GetTensor("y").DType, Is.EqualTo(TensorDType.F32));
            Assert.That(output.GetTensor("y").Shape, Is.EqualTo(new long[] { Tokens, OutFeatures }));
            Assert.That(error, Is.InRange(0.95 * measured, 1.05 * measured), $"measured {measured}");
        });
    }

    [TestCase("--method", "gptq", "--method gptq", "svdquant, smoothquant, lowrank, rtn or w4a16")]
    [TestCase("--format", "int8", "--format int8", "int4 or nvfp4")]
    [TestCase("--rank", "20", "multiple of 16")]
    public void LayerQuantize_BadOption_Exits2_AndLeavesNoFile(string option, string value, params string[] named)
    {
        WriteLayer(TempPath("L.safetensors"));
        string output = TempPath("Q.safetensors");

        CliResult result = Run("layer", "quantize", "--input", TempPath("L.safetensors"), "--output", output, option, value);

        AssertRejected(result, named);
        Assert.That(File.Exists(output), Is.False);
    }

    [Test]
    public void LayerQuantize_W4A16InNvfp4_Exits2_AndLeavesNoFile()
    {
        WriteLayer(TempPath("L.safetensors"));
        string output = TempPath("Q.safetensors");

        CliResult result = Run("layer", "quantize", "--input", TempPath("L.safetensors"), "--output", output, "--method", "w4a16", "--format", "nvfp4");

        AssertRejected(result, "INT4 weights only");
        Assert.That(File.Exists(output), Is.False);
    }

    [Test]
    public void LayerQuantize_WithoutCalibration_NamesIt_AndLeavesNoFile()
    {
        SyntheticLayer data = SyntheticLayer.Create(tokens: 8, inFeatures: 128, outFeatures: 32, seed: 3);
        string input = TempPath("L.safetensors"), output = TempPath("Q.safetensors");
        Write(input, ("weight", data.Weight));

        CliResult result = Run("layer", "quantize", "--input", input, "--output", output);

        AssertRejected(result, "'calib'");
        Assert.That(File.Exists(output), Is.False);
    }

    [Test]
    public void LayerQuantize_WithKNotAMultipleOf64_Exits2_AndLeavesNoFile()
    {
        SyntheticLayer data = SyntheticLayer.Create(tokens: 8, inFeatures: 100, outFeatures: 32, seed: 4);
        string input = TempPath("L.safetensors"), output = TempPath("Q.safetensors");
        Write(input, ("weight", data.Weight), ("calib", data.Calibration));

        CliResult result = Run("layer", "quantize", "--input", input, "--output", output);

        AssertRejected(result, "64");
        Assert.That(File.Exists(output), Is.False);
    }

    [Test]
    public void LayerQuantize_MissingInput_NamesIt()
    {
        string input = TempPath("absent.safetensors"), output = TempPath("Q.safetensors");

        CliResult result = Run("layer", "quantize", "--input", input, "--output", output);

        AssertRejected(result, input);
        Assert.That(File.Exists(output), Is.False);
    }

    [Test]
    public void LayerRun_WithoutX_NamesTheFileAndTensor_AndLeavesNoFile()
    {
        string x = TempPath("X.safetensors");
        Write(x, ("y", new float[4, InFeatures]));

        AssertRunRejected(QuantizedLayer(), x, TempPath("Y.safetensors"), x, "'x'");
    }

    [Test]
    public void LayerRun_WithWrongK_NamesTheFileAndTensor_AndLeavesNoFile()
    {
        string x = TempPath("X.safetensors");
        Write(x, ("x", new float[4, InFeatures + 64]));

        AssertRunRejected(QuantizedLayer(), x, TempPath("Y.safetensors"), x, "'x'", $"{InFeatures + 64}", $"{InFeatures}");
    }

    [Test]
    public void LayerRun_WithIntegerX_NamesTheFileAndTensor_AndLeavesNoFile()
    {
        string x = TempPath("X.safetensors");
        using (var writer = new SafeTensorsWriter())
        {
            writer.AddTensor("x", TensorDType.I32, [4, InFeatures], new byte[4 * InFeatures * sizeof(int)]);
            writer.Save(x);
        }

        AssertRunRejected(QuantizedLayer(), x, TempPath("Y.safetensors"), x, "'x'", "I32");
    }

    [Test]
    public void LayerRun_WithMissingLayerFile_NamesIt_AndLeavesNoFile()
    {
        string x = TempPath("X.safetensors"), layer = TempPath("absent.safetensors");
        Write(x, ("x", new float[4, InFeatures]));

        AssertRunRejected(layer, x, TempPath("Y.safetensors"), layer);
    }

    [Test]
    public void LayerRun_IntoAMissingFolder_NamesIt_AndLeavesNoFile()
    {
        string x = TempPath("X.safetensors"), output = Path.Combine(TempPath("absent"), "Y.safetensors");
        Write(x, ("x", new float[4, InFeatures]));

        AssertRunRejected(QuantizedLayer(), x, output, output);
        Assert.That(Directory.Exists(TempPath("absent")), Is.False);
    }

    private static void AssertRunRejected(string layer, string x, string output, params string[] named)
    {
        CliResult result = Run("layer", "run", "--layer", layer, "--input", x, "--output", output);

        AssertRejected(result, named);
        Assert.That(File.Exists(output), Is.False, "no output file");
    }

    /// <summary>A quantized layer file [OutFeatures, InFeatures], made in-process: its making is not under test here.</summary>
    private string QuantizedLayer()
    {
        string input = TempPath("L.safetensors"), output = TempPath("Q.safetensors");
        WriteLayer(input);
        using var engine = new Engine();
        Quantizer.QuantizeFile(engine, input, output, new QuantizerOptions { Method = QuantizationMethod.Rtn });
        return output;
    }

    /// <summary>The synthetic layer's weight and calibration, with a bias as large as its product.</summary>
    private static (SyntheticLayer Data, float[] Bias) WriteLayer(string path)
    {
        SyntheticLayer data = SyntheticLayer.Create(Tokens, InFeatures, OutFeatures, seed: 9);
        float[] bias = TestBias.For(data.Activations, data.Weight, new GaussianRandom(109));
        using var writer = new SafeTensorsWriter();
        writer.AddTensor("weight", [OutFeatures, InFeatures], Flatten(data.Weight));
        writer.AddTensor("bias", [OutFeatures], bias);
        writer.AddTensor("calib", [Tokens, InFeatures], Flatten(data.Calibration));
        writer.Save(path);
        return (data, bias);
    }
}
