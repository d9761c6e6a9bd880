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

    /// <summary>
    /// Each method's error against float64 math on the synthetic layer with outlier activations and a
    /// bias as large as its product: within 5% of the measured value (the search is deterministic),
    /// so 10% more error or a lost bias, smoothing or branch fails; and the methods keep their order.
    /// </summary>
    [TestCase(NumberFormat.Int4, 0.14065, 0.05703, 0.02446)]
    [TestCase(NumberFormat.Nvfp4, 0.08526, 0.03717, 0.02069)]
    public void SvdQuant_BeatsRtnAndSmoothQuant_OnTheSyntheticLayer(NumberFormat format, double rtnMeasured, double smoothQuantMeasured, double svdQuantMeasured)
    {
        SyntheticLayer data = SyntheticLayer.Create(Tokens, Features, Features, seed: 7);
        float[] bias = TestBias.For(data.Activations, data.Weight, new GaussianRandom(107));
        float[,] reference = ReferenceMath.Linear(data.Activations, data.Weight, bias);

        double Error(QuantizationMethod method)
        {
            var options = new QuantizerOptions { Method = method, Format = format };
            using QuantizedLayers q = Quantizer.Quantize(_engine, data.Calibration, data.Weight, bias, options);
            Assert.That(q.Layers[0].Info.Format, Is.EqualTo(format));
            double error = RelativeError.Of(q.Layers[0].Forward(_engine, data.Activations), reference);
            TestContext.Out.WriteLine($"{format} {method}: {error:0.00000} (alpha {q.Report.Alpha}, beta {q.Report.Beta})");
            return error;
        }

        double rtn = Error(QuantizationMethod.Rtn);
        double smoothQuant = Error(QuantizationMethod.SmoothQuant);
        double svdQuant = Error(QuantizationMethod.SvdQuant);
        Assert.Multiple(() =>
        {
            AssertNear(rtn, rtnMeasured);
            AssertNear(smoothQuant, smoothQuantMeasured);
            AssertNear(svdQuant, svdQuantMeasured);
            Assert.That(rtn, Is.GreaterThan(smoothQuant));
            Assert.That(smoothQuant, Is.GreaterThan(svdQuant));
        });
    }

    /// <summary>
    /// An INT4 layer of each method computes the definition (ReferenceMath) with the smoothing and
    /// branch the quantizer returns: the layer is what the report says it is.
    /// </summary>
    [TestCase(QuantizationMethod.Rtn)]
    [TestCase(QuantizationMethod.SmoothQuant)]
    [TestCase(QuantizationMethod.LowRank)]
    [TestCase(QuantizationMethod.SvdQuant)]
    [TestCase(QuantizationMethod.W4A16)]
    public void Int4Layer_ComputesItsDefinition(QuantizationMethod method)
    {
        SyntheticLayer data = SyntheticLayer.Create(Tokens, Features, 96, seed: 12);
        float[] bias = TestBias.For(data.Activations, data.Weight, new GaussianRandom(112));

        using QuantizedLayers q = Quantizer.Quantize(
            _engine, data.Calibration, data.Weight, bias, new QuantizerOptions { Method = method, Rank = 16 });

        LinearLayerInfo info = q.Layers[0].Info;
        LowRankBranch? branch = q.Branches[0];
        float[,] expected = method == QuantizationMethod.W4A16
            ? ReferenceMath.Linear(ReferenceMath.W4A16Input(data.Activations, _engine.CpuLevel), ReferenceMath.DequantizeInt4Weights(data.Weight), bias)
            : ReferenceMath.W4A4(data.Activations, data.Weight, bias, info.HasSmooth ? q.Smooth : null, branch?.Up, branch?.Down);
        double error = RelativeError.Of(q.Layers[0].Forward(_engine, data.Activations), expected);
        TestContext.Out.WriteLine($"{method} vs definition: {error:E2}");
        // float32 rounding only: measured 0.5e-7 to 2e-7.
        Assert.That(error, Is.LessThanOrEqualTo(1e-6));
    }

    [Test]
    public void Group_SharesSmoothingAndReportsTheSearch()
    {
        SyntheticLayer data = SyntheticLayer.Create(Tokens, Features, Features, seed: 8);
        float[,] second = new GaussianRandom(9).NextMatrix(64, Features, 0.05);

        float[] bias = TestBias.For(data.Activations, data.Weight, new GaussianRandom(108));

        using QuantizedLayers q = Quantizer.QuantizeGroup(_engine, data.Calibration, [data.Weight, second], [bias, null]);

        // The calibration error the report should give, in float64: both layers' errors pooled.
        double calibrationError = PooledError(
            (q.Layers[0].Forward(_engine, data.Calibration), ReferenceMath.Linear(data.Calibration, data.Weight, bias)),
            (q.Layers[1].Forward(_engine, data.Calibration), ReferenceMath.Linear(data.Calibration, second)));
        TestContext.Out.WriteLine($"calibration error: report {q.Report.CalibrationError:0.00000}, computed {calibrationError:0.00000}");

        Assert.Multiple(() =>
        {
            Assert.That(q.Layers, Has.Count.EqualTo(2));
            Assert.That(q.Layers[1].Info.OutFeatures, Is.EqualTo(64));
            Assert.That(q.Layers[1].Info.HasBias, Is.False);
            Assert.That(q.Layers[0].Info.Rank, Is.EqualTo(LowRank.DefaultRank));
            Assert.That(q.Layers[0].Info.HasSmooth, Is.True);
            Assert.That(q.Smooth, Has.Length.EqualTo(Features).And.All.GreaterThan(0f));
            Assert.That(q.Report.Candidates, Is.GreaterThan(20));
            Assert.That(q.Report.CalibrationError, Is.EqualTo(calibrationError).Within(0.5).Percent, "the report tells the truth");
            Assert.That(calibrationError, Is.InRange(0.95 * 0.02615, 1.05 * 0.02615), "measured 0.02615");
            Assert.That(q.Report.Search, Is.GreaterThanOrEqualTo(TimeSpan.Zero));
            Assert.That(q.Branches[1]!.OutFeatures, Is.EqualTo(64));
            Assert.That(q.Branches[1]!.Rank, Is.EqualTo(LowRank.DefaultRank));
        });

        // Smooth and the branch rebuild the same layer through LinearLayer.Create.
        var rebuildOptions = new LinearLayerOptions { Smooth = q.Smooth, LowRank = q.Branches[0] };
        using LinearLayer rebuilt = LinearLayer.Create(_engine, LinearScheme.W4A4, data.Weight, bias, rebuildOptions);
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

    /// <summary>
    /// A measured error within 5% either way: the values are deterministic, so this leaves room for
    /// float summation order only, and 10% more error fails.
    /// </summary>
    private static void AssertNear(double error, double measured) =>
        Assert.That(error, Is.InRange(0.95 * measured, 1.05 * measured), $"measured {measured}");

    /// <summary>sqrt(sum ||actual - expected||^2 / sum ||expected||^2) over the pairs.</summary>
    private static double PooledError(params (float[,] Actual, float[,] Expected)[] pairs)
    {
        double difference = 0, norm = 0;
        foreach ((float[,] actual, float[,] expected) in pairs)
        {
            for (int r = 0; r < expected.GetLength(0); r++)
            {
                for (int c = 0; c < expected.GetLength(1); c++)
                {
                    double d = (double)actual[r, c] - expected[r, c];
                    difference += d * d;
                    norm += (double)expected[r, c] * expected[r, c];
                }
            }
        }

        return Math.Sqrt(difference / norm);
    }
}
