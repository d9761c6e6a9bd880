using System;
using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Quantization;

namespace SvdQuant.Tests;

/// <summary>The quantizer building blocks: smoothing factors and the low-rank factorisation.</summary>
public sealed class QuantizationTests
{
    private Engine _engine = null!;

    [SetUp]
    public void StartEngine() => _engine = new Engine();

    [TearDown]
    public void StopEngine() => _engine.Dispose();

    [Test]
    public void Smoothing_IsActivationMaxToAlphaOverWeightMaxToBeta()
    {
        var random = new GaussianRandom(31);
        float[,] x = random.NextMatrix(9, 70, 3);
        float[,] weight = random.NextMatrix(6, 70, 0.5);
        const float alpha = 0.6f, beta = 0.3f;

        float[] smooth = Smoothing.Compute(_engine, x, weight, alpha, beta);

        Assert.That(smooth, Has.Length.EqualTo(70));
        for (int j = 0; j < smooth.Length; j++)
        {
            double expected = Math.Pow(ColumnAbsMax(x, j), alpha) / Math.Pow(ColumnAbsMax(weight, j), beta);
            Assert.That(smooth[j], Is.EqualTo(expected).Within(1e-5).Percent, $"channel {j}");
        }
    }

    [Test]
    public void LowRank_RecoversAMatrixOfThatRank()
    {
        var random = new GaussianRandom(32);
        float[,] weight = ReferenceMath.Multiply(random.NextMatrix(40, 4, 1), random.NextMatrix(4, 96, 1));

        LowRankBranch branch = LowRank.Decompose(_engine, weight, rank: 4);

        Assert.Multiple(() =>
        {
            Assert.That(branch.Rank, Is.EqualTo(4));
            Assert.That(branch.OutFeatures, Is.EqualTo(40));
            Assert.That(branch.InFeatures, Is.EqualTo(96));
            Assert.That(RelativeError.Of(ReferenceMath.Multiply(branch.Up, branch.Down), weight), Is.LessThan(1e-5));
        });
    }

    [Test]
    public void LowRank_FactorisesTheSmoothedWeight_WithOrthonormalDownRows()
    {
        var random = new GaussianRandom(33);
        float[,] weight = ReferenceMath.Multiply(random.NextMatrix(30, 3, 1), random.NextMatrix(3, 64, 1));
        float[] smooth = new float[64];
        for (int j = 0; j < smooth.Length; j++)
        {
            smooth[j] = 0.5f + (j % 7);
        }

        LowRankBranch branch = LowRank.Decompose(_engine, weight, smooth, rank: 3);

        float[,] smoothed = ReferenceMath.ScaleColumns(weight, smooth);
        Assert.That(RelativeError.Of(ReferenceMath.Multiply(branch.Up, branch.Down), smoothed), Is.LessThan(1e-5));
        float[,] gram = ReferenceMath.Multiply(branch.Down, Transpose(branch.Down));
        for (int a = 0; a < 3; a++)
        {
            for (int b = 0; b < 3; b++)
            {
                Assert.That(gram[a, b], Is.EqualTo(a == b ? 1 : 0).Within(1e-4), $"Down Down^T [{a}, {b}]");
            }
        }
    }

    [Test]
    public void LowRank_OfHigherRank_LeavesLessResidual()
    {
        float[,] weight = new GaussianRandom(34).NextMatrix(48, 64, 1);

        double Residual(int rank)
        {
            LowRankBranch branch = LowRank.Decompose(_engine, weight, rank: rank);
            return RelativeError.Of(ReferenceMath.Multiply(branch.Up, branch.Down), weight);
        }

        Assert.That(new[] { Residual(2), Residual(8), Residual(32), Residual(48) }, Is.Ordered.Descending);
        Assert.That(Residual(48), Is.LessThan(1e-5), "full rank reproduces the weight");
    }

    private static double ColumnAbsMax(float[,] matrix, int column)
    {
        double max = 0;
        for (int r = 0; r < matrix.GetLength(0); r++)
        {
            max = Math.Max(max, Math.Abs(matrix[r, column]));
        }

        return max;
    }

    private static float[,] Transpose(float[,] matrix)
    {
        var transposed = new float[matrix.GetLength(1), matrix.GetLength(0)];
        for (int r = 0; r < matrix.GetLength(0); r++)
        {
            for (int c = 0; c < matrix.GetLength(1); c++)
            {
                transposed[c, r] = matrix[r, c];
            }
        }

        return transposed;
    }
}
