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
        string input = Path.Combine(_dir, "L.safetensors"), output = Path.Combine(_dir, "Q.safetensors");
        using (var writer = new SafeTensorsWriter())
        {
            writer.AddTensor("weight", [80, 256], Flatten(data.Weight));
            writer.AddTensor("bias", [80], data.Bias);
            writer.AddTensor("calib", [48, 256], Flatten(data.Calibration));
            writer.Save(input);
        }

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

    private static float[] Flatten(float[,] m)
    {
        var flat = new float[m.Length];
        Buffer.BlockCopy(m, 0, flat, 0, m.Length * sizeof(float));
        return flat;
    }
}
