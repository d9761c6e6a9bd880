using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Models;
using SvdQuant.Quantization;

namespace SvdQuant.Tests;

/// <summary>Each precision against float math, on the kernels of each CPU level.</summary>
[TestFixture(CpuLevel.Scalar)]
[TestFixture(CpuLevel.Auto)]
public sealed class LinearLayerAccuracyTests(CpuLevel cpuLevel)
{
    private Engine _engine = null!;

    [SetUp]
    public void StartEngine() => _engine = new Engine(new EngineOptions { CpuLevel = cpuLevel });

    [TearDown]
    public void StopEngine() => _engine.Dispose();

    // M = 1, odd M, N not a multiple of 8, K = 64 and K at group edges.
    private static readonly object[] QuantizableShapes =
    [
        new object[] { 1, 8, 64 },
        new object[] { 7, 13, 64 },
        new object[] { 33, 29, 192 },
        new object[] { 16, 100, 320 },
    ];

    private static readonly object[] FloatShapes =
    [
        new object[] { 1, 8, 64 },
        new object[] { 7, 13, 50 },
        new object[] { 33, 29, 192 },
    ];

    [TestCaseSource(nameof(FloatShapes))]
    public void Float_MatchesReferenceMath(int m, int n, int k)
    {
        double error = MeasureGaussian(LinearPrecision.Float, m, n, k, seed: 11);

        Assert.That(error, Is.LessThanOrEqualTo(1e-5));
    }

    [TestCaseSource(nameof(QuantizableShapes))]
    public void W4A16_StaysWithinInt4WeightError(int m, int n, int k)
    {
        double error = MeasureGaussian(LinearPrecision.W4A16, m, n, k, seed: 12);

        // Measured 0.106-0.119; zero error would mean the weights were not quantized.
        Assert.That(error, Is.InRange(0.05, 0.15));
    }

    [TestCaseSource(nameof(QuantizableShapes))]
    public void W4A4_StaysWithinInt4WeightAndActivationError(int m, int n, int k)
    {
        double error = MeasureGaussian(LinearPrecision.W4A4, m, n, k, seed: 13);

        // Measured 0.119-0.150.
        Assert.That(error, Is.InRange(0.06, 0.2));
    }

    [Test]
    public void SvdQuant_BeatsNaiveW4A4_OnOutlierActivations()
    {
        SyntheticLayer data = SyntheticLayer.Create(tokens: 64, inFeatures: 512, outFeatures: 128, seed: 5);
        float[,] reference = ReferenceMath.Linear(data.Activations, data.Weight, data.Bias);
        float[] smooth = Smoothing.Compute(_engine, data.Calibration, data.Weight);
        var svdQuant = new LinearLayerOptions { Smooth = smooth, LowRank = LowRank.Decompose(_engine, data.Weight, smooth, rank: 16) };

        double naive = Measure(LinearPrecision.W4A4, data, reference, options: null);
        double smoothOnly = Measure(LinearPrecision.W4A4, data, reference, new LinearLayerOptions { Smooth = smooth });
        double withBranch = Measure(LinearPrecision.W4A4, data, reference, svdQuant);

        // Measured: naive 0.24, smoothing alone 0.092, smoothing and branch 0.060.
        Assert.Multiple(() =>
        {
            Assert.That(smoothOnly, Is.LessThan(naive), "smoothing moves the outliers into the weights");
            Assert.That(withBranch, Is.LessThan(0.4 * naive), "smoothing and the low-rank branch together");
            Assert.That(withBranch, Is.LessThan(smoothOnly), "the branch absorbs what smoothing moved into the weights");
        });
    }

    [Test]
    public void UnfusedBranch_GivesTheFusedResult()
    {
        SyntheticLayer data = SyntheticLayer.Create(tokens: 19, inFeatures: 256, outFeatures: 40, seed: 6);
        float[] smooth = Smoothing.Compute(_engine, data.Calibration, data.Weight);
        LowRankBranch branch = LowRank.Decompose(_engine, data.Weight, smooth, rank: 16);
        LinearLayerOptions Options(BranchExecution execution) =>
            new() { Smooth = smooth, LowRank = branch, Activation = Activation.GeluTanh, BranchExecution = execution };

        using LinearLayer fused = LinearLayer.Create(_engine, LinearPrecision.W4A4, data.Weight, data.Bias, Options(BranchExecution.Fused));
        using LinearLayer unfused = LinearLayer.Create(_engine, LinearPrecision.W4A4, data.Weight, data.Bias, Options(BranchExecution.Unfused));

        Assert.Multiple(() =>
        {
            Assert.That(unfused.Info.BranchExecution, Is.EqualTo(BranchExecution.Unfused));
            Assert.That(RelativeError.Of(unfused.Forward(_engine, data.Activations), fused.Forward(_engine, data.Activations)),
                Is.LessThan(1e-5));
        });
    }

    private double MeasureGaussian(LinearPrecision precision, int m, int n, int k, int seed)
    {
        var random = new GaussianRandom(seed);
        float[,] x = random.NextMatrix(m, k, 1);
        float[,] weight = random.NextMatrix(n, k, 1);
        using LinearLayer layer = LinearLayer.Create(_engine, precision, weight);

        return RelativeError.Of(layer.Forward(_engine, x), ReferenceMath.Linear(x, weight));
    }

    private double Measure(LinearPrecision precision, SyntheticLayer data, float[,] reference, LinearLayerOptions? options)
    {
        using LinearLayer layer = LinearLayer.Create(_engine, precision, data.Weight, data.Bias, options);
        return RelativeError.Of(layer.Forward(_engine, data.Activations), reference);
    }
}
