using CommunityToolkit.HighPerformance;
using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Models;

namespace SvdQuant.Tests;

/// <summary>2-D spans with a pitch (views into larger matrices) give the same results as dense ones.</summary>
public sealed class MatrixLayoutTests
{
    [Test]
    public void PitchedWeightInputAndOutput_MatchDenseOnes()
    {
        var random = new GaussianRandom(61);
        float[,] bigWeight = random.NextMatrix(12, 70, 1);
        float[,] bigX = random.NextMatrix(6, 80, 1);
        ReadOnlySpan2D<float> weight = new ReadOnlySpan2D<float>(bigWeight).Slice(2, 3, 9, 64);
        ReadOnlySpan2D<float> x = new ReadOnlySpan2D<float>(bigX).Slice(1, 5, 4, 64);
        float[,] denseWeight = weight.ToArray();
        float[,] denseX = x.ToArray();
        var bigY = new float[7, 20];
        Span2D<float> y = new Span2D<float>(bigY).Slice(2, 4, 4, 9);

        using var engine = new Engine();
        using LinearLayer pitched = LinearLayer.Create(engine, LinearScheme.W4A4, weight);
        using LinearLayer dense = LinearLayer.Create(engine, LinearScheme.W4A4, denseWeight);
        pitched.Forward(engine, x, y);
        float[,] written = y.ToArray();

        Assert.Multiple(() =>
        {
            Assert.That(written, Is.EqualTo(dense.Forward(engine, denseX)));
            Assert.That(bigY[0, 0], Is.Zero, "nothing is written outside the view");
            Assert.That(bigY[6, 19], Is.Zero, "nothing is written outside the view");
            Assert.That(bigY[2, 3], Is.Zero, "nothing is written in the gaps of the view");
        });
    }
}
