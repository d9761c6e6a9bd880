using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Models;
using SvdQuant.Quantization;

namespace SvdQuant.Tests;

/// <summary>
/// Each precision against float64 math written in the tests (ReferenceMath), on the kernels of each
/// CPU level. Every layer has a bias as large as its product (TestBias), so a dropped bias is an
/// error near 0.7.
/// </summary>
[TestFixture(CpuLevel.Scalar)]
[TestFixture(CpuLevel.Auto)]
public sealed class LinearLayerAccuracyTests(CpuLevel cpuLevel)
{
    private Engine _engine = null!;

    [SetUp]
    public void StartEngine() => _engine = new Engine(new EngineOptions { CpuLevel = cpuLevel });

    [TearDown]
    public void StopEngine() => _engine.Dispose();

    /// <summary>
    /// How far a layer may be from float64 math on the values its definition computes with: float32
    /// rounding only (measured 0.5e-7 to 2.2e-7). A level off by one in a few elements, a dropped bias,
    /// smoothing or branch is orders of magnitude more.
    /// </summary>
    private const double DefinitionBound = 1e-6;

    private static readonly object[] FloatShapes =
    [
        new object[] { 1, 8, 64 },
        new object[] { 7, 13, 50 },
        new object[] { 33, 29, 192 },
    ];

    // M = 1, odd M, N not a multiple of 8, K = 64 and K at group edges; then the measured error
    // against float math of that shape's Gaussian layer (deterministic: fixed seeds, and every kernel
    // level computes the same values).
    private static readonly object[] W4A16Shapes =
    [
        new object[] { 1, 8, 64, 0.11646 },
        new object[] { 7, 13, 64, 0.08899 },
        new object[] { 33, 29, 192, 0.07281 },
        new object[] { 16, 100, 320, 0.08144 },
    ];

    private static readonly object[] W4A4Shapes =
    [
        new object[] { 1, 8, 64, 0.10952 },
        new object[] { 7, 13, 64, 0.11565 },
        new object[] { 33, 29, 192, 0.11421 },
        new object[] { 16, 100, 320, 0.10281 },
    ];

    [TestCaseSource(nameof(FloatShapes))]
    public void Float_MatchesReferenceMath(int m, int n, int k)
    {
        Gaussian layer = Gaussian.Create(m, n, k, seed: 11);

        float[,] y = Forward(LinearScheme.Float, layer);

        double error = RelativeError.Of(y, ReferenceMath.Linear(layer.X, layer.Weight, layer.Bias));
        TestContext.Out.WriteLine($"Float {m}x{n}x{k}: {error:E2}");
        Assert.That(error, Is.LessThanOrEqualTo(DefinitionBound));
    }

    [TestCaseSource(nameof(W4A16Shapes))]
    public void W4A16_ComputesWithInt4Weights(int m, int n, int k, double measured)
    {
        Gaussian layer = Gaussian.Create(m, n, k, seed: 12);

        float[,] y = Forward(LinearScheme.W4A16, layer);

        double definition = RelativeError.Of(y, ReferenceMath.Linear(
            ReferenceMath.W4A16Input(layer.X, _engine.CpuLevel), ReferenceMath.DequantizeInt4Weights(layer.Weight), layer.Bias));
        double quantization = RelativeError.Of(y, ReferenceMath.Linear(layer.X, layer.Weight, layer.Bias));
        TestContext.Out.WriteLine($"W4A16 {m}x{n}x{k}: vs definition {definition:E2}, vs float {quantization:0.00000}");
        Assert.Multiple(() =>
        {
            Assert.That(definition, Is.LessThanOrEqualTo(DefinitionBound), "the INT4 definition");
            AssertNear(quantization, measured);
        });
    }

    [TestCaseSource(nameof(W4A4Shapes))]
    public void W4A4_ComputesWithInt4WeightsAndActivations(int m, int n, int k, double measured)
    {
        Gaussian layer = Gaussian.Create(m, n, k, seed: 13);

        float[,] y = Forward(LinearScheme.W4A4, layer);

        double definition = RelativeError.Of(y, ReferenceMath.W4A4(layer.X, layer.Weight, layer.Bias));
        double quantization = RelativeError.Of(y, ReferenceMath.Linear(layer.X, layer.Weight, layer.Bias));
        TestContext.Out.WriteLine($"W4A4 {m}x{n}x{k}: vs definition {definition:E2}, vs float {quantization:0.00000}");
        Assert.Multiple(() =>
        {
            Assert.That(definition, Is.LessThanOrEqualTo(DefinitionBound), "the INT4 definition");
            AssertNear(quantization, measured);
        });
    }

    /// <summary>
    /// Smoothing and the low-rank branch, fused in the GEMM epilogue or run as separate products,
    /// against the SVDQuant definition computed in the test from the same smoothing and factors.
    /// </summary>
    [TestCase(BranchExecution.Fused)]
    [TestCase(BranchExecution.Unfused)]
    public void SvdQuant_ComputesTheDefinition(BranchExecution execution)
    {
        SyntheticLayer data = SyntheticLayer.Create(tokens: 19, inFeatures: 256, outFeatures: 40, seed: 6);
        float[] bias = TestBias.For(data.Activations, data.Weight, new GaussianRandom(106));
        float[] smooth = Smoothing.Compute(_engine, data.Calibration, data.Weight);
        LowRankBranch branch = LowRank.Decompose(_engine, data.Weight, smooth, rank: 16);
        var options = new LinearLayerOptions { Smooth = smooth, LowRank = branch, BranchExecution = execution };
        using LinearLayer layer = LinearLayer.Create(_engine, LinearScheme.W4A4, data.Weight, bias, options);

        float[,] y = layer.Forward(_engine, data.Activations);

        double error = RelativeError.Of(y, ReferenceMath.W4A4(data.Activations, data.Weight, bias, smooth, branch.Up, branch.Down));
        TestContext.Out.WriteLine($"SVDQuant {execution} vs definition: {error:E2}");
        Assert.That(error, Is.LessThanOrEqualTo(DefinitionBound));
    }

    [Test]
    public void SvdQuant_BeatsNaiveW4A4_OnOutlierActivations()
    {
        SyntheticLayer data = SyntheticLayer.Create(tokens: 64, inFeatures: 512, outFeatures: 128, seed: 5);
        float[] bias = TestBias.For(data.Activations, data.Weight, new GaussianRandom(105));
        float[,] reference = ReferenceMath.Linear(data.Activations, data.Weight, bias);
        float[] smooth = Smoothing.Compute(_engine, data.Calibration, data.Weight);
        var svdQuant = new LinearLayerOptions { Smooth = smooth, LowRank = LowRank.Decompose(_engine, data.Weight, smooth, rank: 16) };

        double Measure(LinearLayerOptions? options)
        {
            using LinearLayer layer = LinearLayer.Create(_engine, LinearScheme.W4A4, data.Weight, bias, options);
            return RelativeError.Of(layer.Forward(_engine, data.Activations), reference);
        }

        double naive = Measure(null);
        double smoothOnly = Measure(new LinearLayerOptions { Smooth = smooth });
        double withBranch = Measure(svdQuant);
        TestContext.Out.WriteLine($"naive {naive:0.00000}, smoothing {smoothOnly:0.00000}, smoothing and branch {withBranch:0.00000}");

        Assert.Multiple(() =>
        {
            AssertNear(naive, 0.17198);
            AssertNear(smoothOnly, 0.06573);
            AssertNear(withBranch, 0.04285);
        });
    }

    /// <summary>
    /// A measured error within 5% either way: the values are deterministic, so this leaves room for
    /// float summation order only, and 10% more error (or a lost bias, smoothing or branch) fails.
    /// </summary>
    private static void AssertNear(double error, double measured) =>
        Assert.That(error, Is.InRange(0.95 * measured, 1.05 * measured), $"measured {measured}");

    private float[,] Forward(LinearScheme precision, Gaussian layer)
    {
        using LinearLayer linear = LinearLayer.Create(_engine, precision, layer.Weight, layer.Bias);
        return linear.Forward(_engine, layer.X);
    }

    private sealed record Gaussian(float[,] X, float[,] Weight, float[] Bias)
    {
        public static Gaussian Create(int m, int n, int k, int seed)
        {
            var random = new GaussianRandom(seed);
            float[,] x = random.NextMatrix(m, k, 1);
            float[,] weight = random.NextMatrix(n, k, 1);
            return new Gaussian(x, weight, TestBias.For(x, weight, random));
        }
    }
}
