using System;
using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Models;
using SvdQuant.Quantization;

namespace SvdQuant.Tests;

/// <summary>
/// <see cref="LinearLayer.SetLowRankUpdates"/> against float64 math written here, on the kernels of each
/// CPU level: y = act(x W^T + bias + sum_i s_i (x A_i^T) B_i^T). Scales are powers of two, so a scale folded
/// into B before its BF16 rounding and one applied after give the same values.
/// </summary>
[TestFixture(CpuLevel.Scalar)]
[TestFixture(CpuLevel.Auto)]
public sealed class LinearLayerLoraTests(CpuLevel cpuLevel)
{
    private const int Tokens = 11, K = 128, N = 40;

    // float32 rounding only, as LinearLayerAccuracyTests' DefinitionBound (measured there 0.5e-7 to 2.2e-7).
    private const double DefinitionBound = 1e-6;

    private Engine _engine = null!;
    private SyntheticLayer _data = null!;
    private float[] _bias = null!;
    private LowRankUpdate _first = null!, _second = null!;

    [SetUp]
    public void Start()
    {
        _engine = new Engine(new EngineOptions { CpuLevel = cpuLevel });
        _data = SyntheticLayer.Create(Tokens, K, N, seed: 17);
        _bias = TestBias.For(_data.Activations, _data.Weight, new GaussianRandom(117));
        // Terms of about the size of x W^T, so a dropped or misplaced one is a large error.
        _first = new LowRankUpdate(TestLoras.Matrix(4, K, 0.3, 1), TestLoras.Matrix(N, 4, 0.3, 2), scale: 2f);
        _second = new LowRankUpdate(TestLoras.Matrix(3, K, 0.3, 3), TestLoras.Matrix(N, 3, 0.3, 4), scale: 0.5f);
    }

    [TearDown]
    public void Stop() => _engine.Dispose();

    /// <summary>A float layer (with GELU: the terms come before the activation) equals the float64 definition; an empty set restores it bit for bit.</summary>
    [Test]
    public void FloatLayer_AddsTheTermsBeforeTheActivation()
    {
        using LinearLayer layer = LinearLayer.Create(_engine, LinearScheme.Float, _data.Weight, _bias, new LinearLayerOptions { Activation = Activation.GeluTanh });
        float[,] original = layer.Forward(_engine, _data.Activations);

        layer.SetLowRankUpdates(_engine, [_first, _second]);
        float[,] y = layer.Forward(_engine, _data.Activations);
        layer.SetLowRankUpdates(_engine, []);

        float[,] expected = ReferenceMath.Linear(_data.Activations, Merged(_data.Weight, _first, _second), _bias, gelu: true);
        double error = RelativeError.Of(y, expected);
        TestContext.Out.WriteLine($"float + 2 terms vs definition: {error:E2}");
        Assert.Multiple(() =>
        {
            Assert.That(error, Is.LessThanOrEqualTo(DefinitionBound));
            Assert.That(layer.Forward(_engine, _data.Activations), Is.EqualTo(original), "the empty set");
        });
    }

    /// <summary>
    /// A fused SVDQuant W4A4 layer runs the terms in its BF16 branch: its definition (ReferenceMath.W4A4) plus
    /// x BF16(A)^T BF16(s B)^T for each term, to float32 rounding; an empty set restores it bit for bit.
    /// </summary>
    [Test]
    public void FusedW4A4_RunsTheTermsInItsBf16Branch()
    {
        float[] smooth = Smoothing.Compute(_engine, _data.Calibration, _data.Weight);
        LowRankBranch branch = LowRank.Decompose(_engine, _data.Weight, smooth, rank: 16);
        using LinearLayer layer = LinearLayer.Create(_engine, LinearScheme.W4A4, _data.Weight, _bias, new LinearLayerOptions { Smooth = smooth, LowRank = branch });
        float[,] original = layer.Forward(_engine, _data.Activations);

        layer.SetLowRankUpdates(_engine, [_first, _second]);
        float[,] y = layer.Forward(_engine, _data.Activations);
        layer.SetLowRankUpdates(_engine, []);

        float[,] expected = ReferenceMath.W4A4(_data.Activations, _data.Weight, _bias, smooth, branch.Up, branch.Down);
        AddTerm(expected, _data.Activations, _first, bf16: true);
        AddTerm(expected, _data.Activations, _second, bf16: true);
        double error = RelativeError.Of(y, expected);
        TestContext.Out.WriteLine($"fused W4A4 + 2 terms vs definition: {error:E2}");
        Assert.Multiple(() =>
        {
            Assert.That(error, Is.LessThanOrEqualTo(DefinitionBound));
            Assert.That(layer.Forward(_engine, _data.Activations), Is.EqualTo(original), "the empty set");
        });
    }

    /// <summary>
    /// W4A16 and unfused W4A4 layers add the terms as a separate float32 branch: y with them minus y without
    /// equals the float64 terms to float32 rounding (measured 1.9e-7 to 2.0e-7; BF16 factors would be ~1e-3, a
    /// dropped, doubled or transposed term 0.5 or more). Every scale 0 restores the layer bit for bit.
    /// </summary>
    [TestCase(LinearScheme.W4A16, BranchExecution.Fused)]
    [TestCase(LinearScheme.W4A4, BranchExecution.Unfused)]
    public void OtherLayers_AddTheTermsAsABranch(LinearScheme scheme, BranchExecution execution)
    {
        float[] smooth = Smoothing.Compute(_engine, _data.Calibration, _data.Weight);
        LinearLayerOptions options = scheme == LinearScheme.W4A4
            ? new LinearLayerOptions { Smooth = smooth, LowRank = LowRank.Decompose(_engine, _data.Weight, smooth, rank: 16), BranchExecution = execution }
            : new LinearLayerOptions();
        using LinearLayer layer = LinearLayer.Create(_engine, scheme, _data.Weight, _bias, options);
        float[,] original = layer.Forward(_engine, _data.Activations);

        layer.SetLowRankUpdates(_engine, [_first, _second]);
        float[,] y = layer.Forward(_engine, _data.Activations);
        layer.SetLowRankUpdates(_engine, [new LowRankUpdate(_first.Down, _first.Up, 0f), new LowRankUpdate(_second.Down, _second.Up, 0f)]);
        float[,] zero = layer.Forward(_engine, _data.Activations);

        var terms = new float[Tokens, N];
        AddTerm(terms, _data.Activations, _first, bf16: false);
        AddTerm(terms, _data.Activations, _second, bf16: false);
        var added = new float[Tokens, N];
        for (int r = 0; r < Tokens; r++)
        {
            for (int c = 0; c < N; c++)
            {
                added[r, c] = y[r, c] - original[r, c];
            }
        }

        double error = RelativeError.Of(added, terms);
        TestContext.Out.WriteLine($"{scheme} {execution}: added terms vs float64 terms {error:E2}");
        Assert.Multiple(() =>
        {
            Assert.That(error, Is.LessThanOrEqualTo(DefinitionBound));
            Assert.That(zero, Is.EqualTo(original), "every scale 0");
        });
    }

    /// <summary>A factor that does not fit the layer, or a NaN, is refused and the layer keeps its previous terms.</summary>
    [Test]
    public void BadUpdates_LeaveTheLayerAsItWas()
    {
        using LinearLayer layer = LinearLayer.Create(_engine, LinearScheme.Float, _data.Weight, _bias);
        layer.SetLowRankUpdates(_engine, [_first]);
        float[,] before = layer.Forward(_engine, _data.Activations);
        var nan = TestLoras.Matrix(N, 2, 0.3, 5);
        nan[7, 1] = float.NaN;

        var wrongK = Assert.Throws<SvdQuantException>(() => layer.SetLowRankUpdates(_engine, [_second, new LowRankUpdate(new float[2, K + 64], new float[N, 2])]));
        var wrongN = Assert.Throws<SvdQuantException>(() => layer.SetLowRankUpdates(_engine, [new LowRankUpdate(new float[2, K], new float[N + 1, 2])]));
        var notFinite = Assert.Throws<SvdQuantException>(() => layer.SetLowRankUpdates(_engine, [new LowRankUpdate(new float[2, K], nan)]));

        Assert.Multiple(() =>
        {
            Assert.That(wrongK!.Status, Is.EqualTo(StatusCode.ShapeMismatch));
            Assert.That(wrongK.Message, Does.Contain((K + 64).ToString()));
            Assert.That(wrongN!.Status, Is.EqualTo(StatusCode.ShapeMismatch));
            Assert.That(notFinite!.Status, Is.EqualTo(StatusCode.NonFinite));
            Assert.That(layer.Forward(_engine, _data.Activations), Is.EqualTo(before));
            Assert.Throws<ArgumentException>(() => _ = new LowRankUpdate(new float[2, K], new float[N, 3]), "ranks that differ");
        });
    }

    // W + sum s B A, the merged weight the terms stand for.
    private static float[,] Merged(float[,] weight, params LowRankUpdate[] updates)
    {
        var merged = new float[N, K];
        for (int n = 0; n < N; n++)
        {
            for (int k = 0; k < K; k++)
            {
                double value = weight[n, k];
                foreach (LowRankUpdate u in updates)
                {
                    for (int r = 0; r < u.Rank; r++)
                    {
                        value += (double)u.Scale * u.Up[n, r] * u.Down[r, k];
                    }
                }

                merged[n, k] = (float)value;
            }
        }

        return merged;
    }

    // y += s (x A^T) B^T in float64, with the factors rounded to BF16 (s folded into B first) when asked.
    private static void AddTerm(float[,] y, float[,] x, LowRankUpdate u, bool bf16)
    {
        float Round(float v) => bf16 ? ReferenceMath.RoundToBf16(v) : v;
        for (int m = 0; m < Tokens; m++)
        {
            var hidden = new double[u.Rank];
            for (int r = 0; r < u.Rank; r++)
            {
                for (int k = 0; k < K; k++)
                {
                    hidden[r] += (double)x[m, k] * Round(u.Down[r, k]);
                }
            }

            for (int n = 0; n < N; n++)
            {
                double sum = 0;
                for (int r = 0; r < u.Rank; r++)
                {
                    sum += hidden[r] * Round(u.Scale * u.Up[n, r]);
                }

                y[m, n] = (float)(y[m, n] + sum);
            }
        }
    }
}
