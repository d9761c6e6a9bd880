using System;
using System.IO;
using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Formats;
using SvdQuant.Models;
using SvdQuant.Quantization;

namespace SvdQuant.Tests;

/// <summary>A quantized layer through its file: Quantizer.QuantizeFile then LinearLayer.Load.</summary>
public sealed class LayerFileTests
{
    private Engine _engine = null!;
    private string _dir = null!;

    [SetUp]
    public void Start()
    {
        _engine = new Engine();
        _dir = Directory.CreateTempSubdirectory("svdq-layer-").FullName;
    }

    [TearDown]
    public void Stop()
    {
        _engine.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>
    /// The default method (SVDQuant INT4) through its file: the loaded layer's error against float64
    /// math is the measured one within 5%, and the report's calibration error is the loaded layer's
    /// error on the calibration activations, computed here.
    /// </summary>
    [Test]
    public void QuantizedFile_LoadsAndMatchesFloatMath()
    {
        (SyntheticLayer data, float[] bias) = Layer();
        string input = WriteInput(data, bias), output = Path.Combine(_dir, "Q.safetensors");

        QuantizationReport report = Quantizer.QuantizeFile(_engine, input, output, new QuantizerOptions { Rank = 16 });
        using LinearLayer layer = LinearLayer.Load(_engine, output);
        double error = RelativeError.Of(layer.Forward(_engine, data.Activations), ReferenceMath.Linear(data.Activations, data.Weight, bias));
        double calibrationError = RelativeError.Of(layer.Forward(_engine, data.Calibration), ReferenceMath.Linear(data.Calibration, data.Weight, bias));
        TestContext.Out.WriteLine($"error {error:0.00000}; calibration error: report {report.CalibrationError:0.00000}, loaded layer {calibrationError:0.00000}");

        Assert.Multiple(() =>
        {
            Assert.That(layer.Info.Rank, Is.EqualTo(16));
            Assert.That(layer.Info.HasSmooth, Is.True);
            // The report measures the layer in memory, the file holds a few parts in BF16: measured equal to 5 digits.
            Assert.That(report.CalibrationError, Is.EqualTo(calibrationError).Within(0.5).Percent);
            Assert.That(error, Is.InRange(0.95 * 0.02994, 1.05 * 0.02994), "measured 0.02994");
        });
    }

    /// <summary>
    /// Each method and format through its file: the loaded layer is of the method's kind, its error
    /// against float64 math is the measured one within 5%, and it stays within the BF16 storage of its
    /// float parts of the same layer quantized in memory.
    /// </summary>
    [TestCase(QuantizationMethod.Rtn, NumberFormat.Int4, 0.1447)]
    [TestCase(QuantizationMethod.SmoothQuant, NumberFormat.Int4, 0.06485)]
    [TestCase(QuantizationMethod.LowRank, NumberFormat.Int4, 0.11887)]
    [TestCase(QuantizationMethod.SvdQuant, NumberFormat.Int4, 0.02994)]
    [TestCase(QuantizationMethod.W4A16, NumberFormat.Int4, 0.07731)]
    [TestCase(QuantizationMethod.Rtn, NumberFormat.Nvfp4, 0.09554)]
    [TestCase(QuantizationMethod.SmoothQuant, NumberFormat.Nvfp4, 0.04084)]
    [TestCase(QuantizationMethod.LowRank, NumberFormat.Nvfp4, 0.07378)]
    [TestCase(QuantizationMethod.SvdQuant, NumberFormat.Nvfp4, 0.02471)]
    public void EveryMethodAndFormat_LoadsAndRunsLikeTheLayerInMemory(QuantizationMethod method, NumberFormat format, double measured)
    {
        (SyntheticLayer data, float[] bias) = Layer();
        string input = WriteInput(data, bias), output = Path.Combine(_dir, "Q.safetensors");
        var options = new QuantizerOptions { Method = method, Format = format, Rank = 16 };

        Quantizer.QuantizeFile(_engine, input, output, options);
        using LinearLayer loaded = LinearLayer.Load(_engine, output);
        using QuantizedLayers memory = Quantizer.Quantize(_engine, data.Calibration, data.Weight, bias, options);
        float[,] fromFile = loaded.Forward(_engine, data.Activations);
        bool branch = method is QuantizationMethod.LowRank or QuantizationMethod.SvdQuant;
        bool smooth = method is QuantizationMethod.SmoothQuant or QuantizationMethod.SvdQuant;
        double error = RelativeError.Of(fromFile, ReferenceMath.Linear(data.Activations, data.Weight, bias));
        double storage = RelativeError.Of(fromFile, memory.Layers[0].Forward(_engine, data.Activations));
        TestContext.Out.WriteLine($"{method} {format}: error {error:0.00000}, file vs memory {storage:E2}");

        Assert.Multiple(() =>
        {
            Assert.That(loaded.Info.Scheme, Is.EqualTo(method == QuantizationMethod.W4A16 ? LinearScheme.W4A16 : LinearScheme.W4A4));
            Assert.That(loaded.Info.Format, Is.EqualTo(format));
            Assert.That(loaded.Info.Rank, Is.EqualTo(branch ? 16 : 0));
            Assert.That(loaded.Info.HasSmooth, Is.EqualTo(smooth));
            Assert.That(error, Is.InRange(0.95 * measured, 1.05 * measured), $"measured {measured}");
            // Only the BF16 storage of the float parts (bias, smoothing, branch) separates them: measured
            // 1.05e-3 to 1.06e-3, mostly the BF16 bias (2^-9 relative on a bias 0.7 of the output).
            Assert.That(storage, Is.LessThan(1.2e-3));
        });
    }

    [Test]
    public void W4A16InNvfp4_IsUnsupported_AndLeavesNoFile()
    {
        SyntheticLayer data = SyntheticLayer.Create(tokens: 16, inFeatures: 128, outFeatures: 16, seed: 3);
        string input = WriteInput(data, data.Bias), output = Path.Combine(_dir, "Q.safetensors");

        var e = Assert.Throws<SvdQuantException>(() => Quantizer.QuantizeFile(
            _engine, input, output, new QuantizerOptions { Method = QuantizationMethod.W4A16, Format = NumberFormat.Nvfp4 }));
        Assert.Multiple(() =>
        {
            Assert.That(e!.Status, Is.EqualTo(StatusCode.Unsupported));
            Assert.That(e.Message, Does.Contain("INT4 weights only"));
            Assert.That(File.Exists(output), Is.False);
        });
    }

    [Test]
    public void MissingWeight_IsNamed_AndLeavesNoFile()
    {
        string input = Path.Combine(_dir, "bad.safetensors"), output = Path.Combine(_dir, "Q.safetensors");
        using (var writer = new SafeTensorsWriter())
        {
            writer.AddTensor("bias", [4], new float[4]);
            writer.Save(input);
        }

        var e = Assert.Throws<SvdQuantException>(() => Quantizer.QuantizeFile(_engine, input, output));
        Assert.Multiple(() =>
        {
            Assert.That(e!.Message, Does.Contain("'weight'"));
            Assert.That(File.Exists(output), Is.False);
        });
    }

    /// <summary>The synthetic layer with a bias as large as its product (its own is 3% of the output).</summary>
    private static (SyntheticLayer Data, float[] Bias) Layer()
    {
        SyntheticLayer data = SyntheticLayer.Create(tokens: 48, inFeatures: 256, outFeatures: 80, seed: 9);
        return (data, TestBias.For(data.Activations, data.Weight, new GaussianRandom(109)));
    }

    private string WriteInput(SyntheticLayer data, float[] bias)
    {
        string path = Path.Combine(_dir, "L.safetensors");
        int n = data.Weight.GetLength(0), k = data.Weight.GetLength(1), m = data.Calibration.GetLength(0);
        using var writer = new SafeTensorsWriter();
        writer.AddTensor("weight", [n, k], Flatten(data.Weight));
        writer.AddTensor("bias", [n], bias);
        writer.AddTensor("calib", [m, k], Flatten(data.Calibration));
        writer.Save(path);
        return path;
    }

    private static float[] Flatten(float[,] m)
    {
        var flat = new float[m.Length];
        Buffer.BlockCopy(m, 0, flat, 0, m.Length * sizeof(float));
        return flat;
    }
}
