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

    [Test]
    public void QuantizedFile_LoadsAndMatchesFloatMath()
    {
        SyntheticLayer data = SyntheticLayer.Create(tokens: 48, inFeatures: 256, outFeatures: 80, seed: 9);
        string input = WriteInput(data), output = Path.Combine(_dir, "Q.safetensors");

        QuantizationReport report = Quantizer.QuantizeFile(_engine, input, output, new QuantizerOptions { Rank = 16 });
        using LinearLayer layer = LinearLayer.Load(_engine, output);
        double error = RelativeError.Of(layer.Forward(_engine, data.Activations), ReferenceMath.Linear(data.Activations, data.Weight, data.Bias));

        Assert.Multiple(() =>
        {
            Assert.That(layer.Info.Rank, Is.EqualTo(16));
            Assert.That(layer.Info.HasSmooth, Is.True);
            Assert.That(report.CalibrationError, Is.InRange(1e-4, 0.2));
            Assert.That(error, Is.InRange(1e-4, 0.2), "a quantized layer that computes the layer");
        });
    }

    [TestCase(QuantizationMethod.Rtn, WeightFormat.Int4)]
    [TestCase(QuantizationMethod.SmoothQuant, WeightFormat.Int4)]
    [TestCase(QuantizationMethod.LowRank, WeightFormat.Int4)]
    [TestCase(QuantizationMethod.SvdQuant, WeightFormat.Int4)]
    [TestCase(QuantizationMethod.W4A16, WeightFormat.Int4)]
    [TestCase(QuantizationMethod.Rtn, WeightFormat.Nvfp4)]
    [TestCase(QuantizationMethod.SmoothQuant, WeightFormat.Nvfp4)]
    [TestCase(QuantizationMethod.LowRank, WeightFormat.Nvfp4)]
    [TestCase(QuantizationMethod.SvdQuant, WeightFormat.Nvfp4)]
    public void EveryMethodAndFormat_LoadsAndRunsLikeTheLayerInMemory(QuantizationMethod method, WeightFormat format)
    {
        SyntheticLayer data = SyntheticLayer.Create(tokens: 48, inFeatures: 256, outFeatures: 80, seed: 9);
        string input = WriteInput(data), output = Path.Combine(_dir, "Q.safetensors");
        var options = new QuantizerOptions { Method = method, Format = format, Rank = 16 };

        Quantizer.QuantizeFile(_engine, input, output, options);
        using LinearLayer loaded = LinearLayer.Load(_engine, output);
        using QuantizedLayers memory = Quantizer.Quantize(_engine, data.Calibration, data.Weight, data.Bias, options);
        float[,] fromFile = loaded.Forward(_engine, data.Activations);
        bool branch = method is QuantizationMethod.LowRank or QuantizationMethod.SvdQuant;
        bool smooth = method is QuantizationMethod.SmoothQuant or QuantizationMethod.SvdQuant;

        Assert.Multiple(() =>
        {
            Assert.That(loaded.Info.Precision, Is.EqualTo(method == QuantizationMethod.W4A16 ? LinearPrecision.W4A16 : LinearPrecision.W4A4));
            Assert.That(loaded.Info.Format, Is.EqualTo(format));
            Assert.That(loaded.Info.Rank, Is.EqualTo(branch ? 16 : 0));
            Assert.That(loaded.Info.HasSmooth, Is.EqualTo(smooth));
            Assert.That(RelativeError.Of(fromFile, ReferenceMath.Linear(data.Activations, data.Weight, data.Bias)), Is.InRange(1e-4, 0.2));
            // Only the BF16 storage of the float parts (INT4 scales included) separates them.
            Assert.That(RelativeError.Of(fromFile, memory.Layers[0].Forward(_engine, data.Activations)), Is.LessThan(1.5e-2));
        });
    }

    [Test]
    public void W4A16InNvfp4_IsUnsupported_AndLeavesNoFile()
    {
        SyntheticLayer data = SyntheticLayer.Create(tokens: 16, inFeatures: 128, outFeatures: 16, seed: 3);
        string input = WriteInput(data), output = Path.Combine(_dir, "Q.safetensors");

        var e = Assert.Throws<SvdQuantException>(() => Quantizer.QuantizeFile(
            _engine, input, output, new QuantizerOptions { Method = QuantizationMethod.W4A16, Format = WeightFormat.Nvfp4 }));
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

    private string WriteInput(SyntheticLayer data)
    {
        string path = Path.Combine(_dir, "L.safetensors");
        int n = data.Weight.GetLength(0), k = data.Weight.GetLength(1), m = data.Calibration.GetLength(0);
        using var writer = new SafeTensorsWriter();
        writer.AddTensor("weight", [n, k], Flatten(data.Weight));
        writer.AddTensor("bias", [n], data.Bias);
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
