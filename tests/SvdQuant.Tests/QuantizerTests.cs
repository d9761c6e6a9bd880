using System;
using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Models;
using SvdQuant.Quantization;

namespace SvdQuant.Tests;

/// <summary>The quantizer through the managed API: every method, both formats, groups, errors.</summary>
public sealed class QuantizerTests
{
    private const int Tokens = 64, Features = 256;

    private Engine _engine = null!;

    [SetUp]
    public void StartEngine() => _engine = new Engine();

    [TearDown]
    public void StopEngine() => _engine.Dispose();

    [TestCase(WeightFormat.Int4)]
    [TestCase(WeightFormat.Nvfp4)]
    public void SvdQuant_BeatsRtnAndSmoothQuant_OnTheSyntheticLayer(WeightFormat format)
    {
        SyntheticLayer data = SyntheticLayer.Create(Tokens, Features, Features, seed: 7);
        float[,] reference = ReferenceMath.Linear(data.Activations, data.Weight, data.Bias);

        double Error(QuantizationMethod method)
        {
            var options = new QuantizerOptions { Method = method, Format = format };
            using QuantizedLayers q = Quantizer.Quantize(_engine, data.Calibration, data.Weight, data.Bias, options);
            Assert.That(q.Layers[0].Info.Format, Is.EqualTo(format));
            double error = RelativeError.Of(q.Layers[0].Forward(_engine, data.Activations), reference);
            TestContext.Out.WriteLine($"{format} {method}: {error:0.0000} (alpha {q.Report.Alpha}, beta {q.Report.Beta})");
            return error;
        }

        double rtn = Error(QuantizationMethod.Rtn);
        double smoothQuant = Error(QuantizationMethod.SmoothQuant);
        double svdQuant = Error(QuantizationMethod.SvdQuant);
        Assert.That(rtn, Is.GreaterThan(smoothQuant));
        Assert.That(smoothQuant, Is.GreaterThan(svdQuant));
    }

    [Test]
    public void Group_SharesSmoothingAndReportsTheSearch()
    {
        SyntheticLayer data = SyntheticLayer.Create(Tokens, Features, Features, seed: 8);
        float[,] second = new GaussianRandom(9).NextMatrix(64, Features, 0.05);

        using QuantizedLayers q = Quantizer.QuantizeGroup(_engine, data.Calibration, [data.Weight, second], [data.Bias, null]);

        Assert.Multiple(() =>
        {
            Assert.That(q.Layers, Has.Count.EqualTo(2));
            Assert.That(q.Layers[1].Info.OutFeatures, Is.EqualTo(64));
            Assert.That(q.Layers[1].Info.HasBias, Is.False);
            Assert.That(q.Layers[0].Info.Rank, Is.EqualTo(LowRank.DefaultRank));
            Assert.That(q.Layers[0].Info.HasSmooth, Is.True);
            Assert.That(q.Smooth, Has.Length.EqualTo(Features).And.All.GreaterThan(0f));
            Assert.That(q.Report.Candidates, Is.GreaterThan(20));
            Assert.That(q.Report.CalibrationError, Is.GreaterThan(0f).And.LessThan(0.2f));
            Assert.That(q.Report.Search, Is.GreaterThanOrEqualTo(TimeSpan.Zero));
            Assert.That(q.Branches[1]!.OutFeatures, Is.EqualTo(64));
            Assert.That(q.Branches[1]!.Rank, Is.EqualTo(LowRank.DefaultRank));
        });

        // Smooth and the branch rebuild the same layer through LinearLayer.Create.
        var rebuildOptions = new LinearLayerOptions { Smooth = q.Smooth, LowRank = q.Branches[0] };
        using LinearLayer rebuilt = LinearLayer.Create(_engine, LinearPrecision.W4A4, data.Weight, data.Bias, rebuildOptions);
        Assert.That(rebuilt.Forward(_engine, data.Activations), Is.EqualTo(q.Layers[0].Forward(_engine, data.Activations)));
    }

    [Test]
    public void MethodsWithoutABranch_ReportNone()
    {
        SyntheticLayer data = SyntheticLayer.Create(Tokens, Features, Features, seed: 11);

        using QuantizedLayers q = Quantizer.Quantize(
            _engine, data.Calibration, data.Weight, options: new QuantizerOptions { Method = QuantizationMethod.SmoothQuant });

        Assert.That(q.Branches[0], Is.Null);
        Assert.That(q.Layers[0].Info.Rank, Is.Zero);
        Assert.That(q.Layers[0].Info.HasSmooth, Is.True);
    }

    [Test]
    public void BadRank_ThrowsInvalidArgumentNamingTheRule()
    {
        SyntheticLayer data = SyntheticLayer.Create(Tokens, Features, Features, seed: 10);

        var error = Assert.Throws<SvdQuantException>(() =>
            Quantizer.Quantize(_engine, data.Calibration, data.Weight, options: new QuantizerOptions { Rank = 20 }));

        Assert.That(error!.Status, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(error.Message, Does.Contain("multiple of 16"));
    }
}
