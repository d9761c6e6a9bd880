using System;
using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Models;
using SvdQuant.Quantization;

namespace SvdQuant.Tests;

/// <summary>
/// Native failures arrive as <see cref="SvdQuantException"/> with the engine's status and
/// message; argument errors the managed side can see arrive as the ArgumentException family.
/// </summary>
public sealed class ErrorMappingTests
{
    private readonly GaussianRandom _random = new(41);
    private Engine _engine = null!;

    [SetUp]
    public void StartEngine() => _engine = new Engine();

    [TearDown]
    public void StopEngine() => _engine.Dispose();

    [TestCase(LinearScheme.W4A4)]
    [TestCase(LinearScheme.W4A16)]
    public void QuantizedLayer_WithKNotAMultipleOf64_IsAShapeMismatch(LinearScheme precision)
    {
        float[,] weight = _random.NextMatrix(8, 96, 1);

        var e = Assert.Throws<SvdQuantException>(() => LinearLayer.Create(_engine, precision, weight));

        Assert.That(e.Status, Is.EqualTo(StatusCode.ShapeMismatch));
        Assert.That(e.Message, Does.Contain("96").And.Contain("multiple").And.Contain("64"));
    }

    [TestCase(float.NaN)]
    [TestCase(float.PositiveInfinity)]
    public void Weight_WithNonFiniteValue_IsNonFinite(float bad)
    {
        float[,] weight = _random.NextMatrix(4, 64, 1);
        weight[2, 5] = bad;

        var e = Assert.Throws<SvdQuantException>(() => LinearLayer.Create(_engine, LinearScheme.W4A4, weight));

        Assert.That(e.Status, Is.EqualTo(StatusCode.NonFinite));
        Assert.That(e.Message, Does.Contain("weight"));
    }

    [Test]
    public void Input_WithNaN_IsNonFinite()
    {
        using LinearLayer layer = LinearLayer.Create(_engine, LinearScheme.W4A4, _random.NextMatrix(4, 64, 1));
        float[,] x = _random.NextMatrix(2, 64, 1);
        x[1, 63] = float.NaN;

        var e = Assert.Throws<SvdQuantException>(() => layer.Forward(_engine, x));

        Assert.That(e.Status, Is.EqualTo(StatusCode.NonFinite));
    }

    [TestCase(3, 63, 3, 4, TestName = "x with the wrong K")]
    [TestCase(3, 64, 3, 5, TestName = "y with the wrong N")]
    [TestCase(3, 64, 2, 4, TestName = "y with other rows than x")]
    public void Forward_WithShapesThatDoNotFit_IsANativeShapeMismatch(int xRows, int xColumns, int yRows, int yColumns)
    {
        using LinearLayer layer = LinearLayer.Create(_engine, LinearScheme.W4A4, _random.NextMatrix(4, 64, 1));

        var e = Assert.Throws<SvdQuantException>(
            () => layer.Forward(_engine, new float[xRows, xColumns], new float[yRows, yColumns]));

        Assert.That(e.Status, Is.EqualTo(StatusCode.ShapeMismatch));
    }

    [Test]
    public void Bias_OfTheWrongLength_IsAShapeMismatch()
    {
        var e = Assert.Throws<SvdQuantException>(
            () => LinearLayer.Create(_engine, LinearScheme.Float, _random.NextMatrix(4, 64, 1), new float[5]));

        Assert.That(e.Status, Is.EqualTo(StatusCode.ShapeMismatch));
        Assert.That(e.Message, Does.Contain("bias"));
    }

    [TestCase(9, 4, 4, 64, "lowrank_up", TestName = "up with the wrong N")]
    [TestCase(8, 4, 4, 128, "lowrank_down", TestName = "down with the wrong K")]
    public void LowRankBranch_OfTheWrongShape_IsAShapeMismatch(int upRows, int upColumns, int downRows, int downColumns, string culprit)
    {
        var options = new LinearLayerOptions
        {
            LowRank = new LowRankBranch(new float[upRows, upColumns], new float[downRows, downColumns]),
        };

        var e = Assert.Throws<SvdQuantException>(
            () => LinearLayer.Create(_engine, LinearScheme.W4A4, _random.NextMatrix(8, 64, 1), options: options));

        Assert.That(e.Status, Is.EqualTo(StatusCode.ShapeMismatch));
        Assert.That(e.Message, Does.Contain(culprit));
    }

    [Test]
    public void LowRankBranch_WhoseFactorsDisagreeOnTheRank_IsAnArgumentError() =>
        Assert.Throws<ArgumentException>(() => _ = new LowRankBranch(new float[8, 4], new float[3, 64]));

    [Test]
    public void Smooth_OnAW4A16Layer_IsAnInvalidArgument()
    {
        var options = new LinearLayerOptions { Smooth = new float[64] };

        var e = Assert.Throws<SvdQuantException>(
            () => LinearLayer.Create(_engine, LinearScheme.W4A16, _random.NextMatrix(8, 64, 1), options: options));

        Assert.That(e.Status, Is.EqualTo(StatusCode.InvalidArgument));
    }

    [Test]
    public void Smooth_WithANonPositiveFactor_IsAnInvalidArgument()
    {
        var smooth = new float[64];
        Array.Fill(smooth, 1f);
        smooth[10] = 0;

        var e = Assert.Throws<SvdQuantException>(() => LinearLayer.Create(
            _engine, LinearScheme.W4A4, _random.NextMatrix(8, 64, 1), options: new LinearLayerOptions { Smooth = smooth }));

        Assert.That(e.Status, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(e.Message, Does.Contain("smooth[10]"));
    }

    [Test]
    public void LowRank_AboveTheSmallerDimension_IsAnInvalidArgument()
    {
        var e = Assert.Throws<SvdQuantException>(() => LowRank.Decompose(_engine, _random.NextMatrix(8, 64, 1), rank: 9));

        Assert.That(e.Status, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(e.Message, Does.Contain("rank 9"));
    }

    [Test]
    public void LowRank_BelowOne_IsRejectedBeforeTheEngine() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => LowRank.Decompose(_engine, _random.NextMatrix(8, 64, 1), rank: 0));

    [Test]
    public void Smoothing_WithCalibrationOfAnotherK_IsAShapeMismatch()
    {
        var e = Assert.Throws<SvdQuantException>(
            () => Smoothing.Compute(_engine, _random.NextMatrix(4, 32, 1), _random.NextMatrix(8, 64, 1)));

        Assert.That(e.Status, Is.EqualTo(StatusCode.ShapeMismatch));
    }

    [Test]
    public void NullEngine_IsAnArgumentNullException()
    {
        Assert.Multiple(() =>
        {
            Assert.Throws<ArgumentNullException>(() => LinearLayer.Create(null!, LinearScheme.Float, new float[2, 2]));
            Assert.Throws<ArgumentNullException>(() => Smoothing.Compute(null!, new float[2, 2], new float[2, 2]));
            Assert.Throws<ArgumentNullException>(() => LowRank.Decompose(null!, new float[2, 2], rank: 1));
        });
    }

    [Test]
    public void NegativeThreadCount_IsAnInvalidArgument()
    {
        var e = Assert.Throws<SvdQuantException>(() => _ = new Engine(new EngineOptions { Threads = -1 }));

        Assert.That(e.Status, Is.EqualTo(StatusCode.InvalidArgument));
    }
}
