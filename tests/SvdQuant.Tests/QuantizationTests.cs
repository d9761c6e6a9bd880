using System;
using System.Linq;
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
        float[,] gram = ReferenceMath.Multiply(branch.Down, ReferenceMath.Transpose(branch.Down));
        for (int a = 0; a < 3; a++)
        {
            for (int b = 0; b < 3; b++)
            {
                Assert.That(gram[a, b], Is.EqualTo(a == b ? 1 : 0).Within(1e-4), $"Down Down^T [{a}, {b}]");
            }
        }
    }

    /// <summary>
    /// A rank-r branch leaves the least residual any rank-r matrix can (Eckart-Young):
    /// sqrt(sum of the squared singular values past r) / ||W||_F, with the singular values computed
    /// here in float64. Ranks 2 and 8 take the randomized SVD, 32 and 48 the exact one.
    /// </summary>
    [TestCase(2)]
    [TestCase(8)]
    [TestCase(32)]
    public void LowRank_LeavesTheOptimalResidual(int rank)
    {
        float[,] weight = new GaussianRandom(34).NextMatrix(48, 64, 1);
        double[] squared = SquaredSingularValues(weight);
        double optimal = Math.Sqrt(squared.Skip(rank).Sum() / squared.Sum());

        LowRankBranch branch = LowRank.Decompose(_engine, weight, rank: rank);

        double residual = RelativeError.Of(ReferenceMath.Multiply(branch.Up, branch.Down), weight);
        TestContext.Out.WriteLine($"rank {rank}: residual {residual:0.000000}, optimal {optimal:0.000000}, ratio {residual / optimal:0.000000}");
        // Measured ratios 1.000005 (rank 2), 1.000010 (8), 1.0000000 (32): the bound allows 1e-4 more,
        // and below the optimum only float32 rounding of the product.
        Assert.That(residual / optimal, Is.InRange(1 - 1e-6, 1 + 1e-4));
    }

    [Test]
    public void LowRank_OfFullRank_ReproducesTheWeight()
    {
        float[,] weight = new GaussianRandom(34).NextMatrix(48, 64, 1);

        LowRankBranch branch = LowRank.Decompose(_engine, weight, rank: 48);

        Assert.That(RelativeError.Of(ReferenceMath.Multiply(branch.Up, branch.Down), weight), Is.LessThan(1e-5));
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

    /// <summary>The squared singular values of W [N, K], descending: the eigenvalues of W W^T by cyclic Jacobi rotations, in float64.</summary>
    private static double[] SquaredSingularValues(float[,] w)
    {
        int n = w.GetLength(0), k = w.GetLength(1);
        var a = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                for (int c = 0; c < k; c++)
                {
                    a[i, j] += (double)w[i, c] * w[j, c];
                }
            }
        }

        for (int sweep = 0; sweep < 50; sweep++)
        {
            for (int p = 0; p < n - 1; p++)
            {
                for (int q = p + 1; q < n; q++)
                {
                    if (a[p, q] == 0)
                    {
                        continue;
                    }

                    // The rotation that zeroes a[p, q], applied on both sides.
                    double theta = (a[q, q] - a[p, p]) / (2 * a[p, q]);
                    double t = (theta >= 0 ? 1 : -1) / (Math.Abs(theta) + Math.Sqrt((theta * theta) + 1));
                    double cos = 1 / Math.Sqrt((t * t) + 1), sin = t * cos;
                    for (int r = 0; r < n; r++)
                    {
                        (a[r, p], a[r, q]) = ((cos * a[r, p]) - (sin * a[r, q]), (sin * a[r, p]) + (cos * a[r, q]));
                    }

                    for (int r = 0; r < n; r++)
                    {
                        (a[p, r], a[q, r]) = ((cos * a[p, r]) - (sin * a[q, r]), (sin * a[p, r]) + (cos * a[q, r]));
                    }
                }
            }
        }

        return Enumerable.Range(0, n).Select(i => a[i, i]).OrderDescending().ToArray();
    }
}
