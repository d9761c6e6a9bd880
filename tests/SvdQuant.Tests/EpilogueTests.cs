using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Models;

namespace SvdQuant.Tests;

/// <summary>Bias and GELU applied after the matrix product, on the kernels of each CPU level.</summary>
[TestFixture(CpuLevel.Scalar)]
[TestFixture(CpuLevel.Auto)]
public sealed class EpilogueTests(CpuLevel cpuLevel)
{
    private Engine _engine = null!;

    [SetUp]
    public void StartEngine() => _engine = new Engine(new EngineOptions { CpuLevel = cpuLevel });

    [TearDown]
    public void StopEngine() => _engine.Dispose();

    /// <summary>
    /// act(x W^T + bias) against float64 math on the values each precision computes with, from their
    /// definitions: float weights; INT4 weights (W4A16); INT4 weights and INT4 activations (W4A4).
    /// The bias (std 1) is about as large as the product (std 1.1), so a dropped bias or a missing GELU
    /// is an error of order 0.5, while the measured difference is float32 rounding (below 2.5e-7).
    /// </summary>
    [Test]
    public void Layer_AddsBiasThenAppliesGelu_AsTheDefinitionDoes(
        [Values(LinearScheme.Float, LinearScheme.W4A16, LinearScheme.W4A4)] LinearScheme precision,
        [Values(false, true)] bool gelu)
    {
        var random = new GaussianRandom(22);
        float[,] x = random.NextMatrix(5, 128, 1);
        float[,] weight = random.NextMatrix(19, 128, 0.1);
        float[] bias = Row(random.NextMatrix(1, 19, 1));
        var options = new LinearLayerOptions { Activation = gelu ? Activation.GeluTanh : Activation.None };
        using LinearLayer layer = LinearLayer.Create(_engine, precision, weight, bias, options);
        (float[,] xUsed, float[,] weightUsed) = precision switch
        {
            LinearScheme.W4A16 => (ReferenceMath.W4A16Input(x, _engine.CpuLevel), ReferenceMath.DequantizeInt4Weights(weight)),
            LinearScheme.W4A4 => (ReferenceMath.DequantizeInt4Activations(x), ReferenceMath.DequantizeInt4Weights(weight)),
            _ => (x, weight),
        };

        float[,] y = layer.Forward(_engine, x);

        double error = RelativeError.Of(y, ReferenceMath.Linear(xUsed, weightUsed, bias, gelu));
        TestContext.Out.WriteLine($"{precision} gelu {gelu}: {error:E2}");
        Assert.That(error, Is.LessThanOrEqualTo(1e-6));
    }

    private static float[] Row(float[,] matrix)
    {
        var row = new float[matrix.GetLength(1)];
        for (int c = 0; c < row.Length; c++)
        {
            row[c] = matrix[0, c];
        }

        return row;
    }
}
