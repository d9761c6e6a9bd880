using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Models;

namespace SvdQuant.Tests;

/// <summary>Bias and GELU applied after the matrix product.</summary>
public sealed class EpilogueTests
{
    private Engine _engine = null!;

    [SetUp]
    public void StartEngine() => _engine = new Engine();

    [TearDown]
    public void StopEngine() => _engine.Dispose();

    [TestCase(false)]
    [TestCase(true)]
    public void FloatLayer_AddsBiasAndAppliesGelu(bool gelu)
    {
        var random = new GaussianRandom(21);
        float[,] x = random.NextMatrix(5, 64, 1);
        float[,] weight = random.NextMatrix(19, 64, 0.2);
        float[] bias = Row(random.NextMatrix(1, 19, 1));
        var options = new LinearLayerOptions { Activation = gelu ? Activation.GeluTanh : Activation.None };
        using LinearLayer layer = LinearLayer.Create(_engine, LinearPrecision.Float, weight, bias, options);

        float[,] y = layer.Forward(_engine, x);

        Assert.That(RelativeError.Of(y, ReferenceMath.Linear(x, weight, bias, gelu)), Is.LessThanOrEqualTo(1e-5));
    }

    [TestCase(LinearPrecision.W4A16)]
    [TestCase(LinearPrecision.W4A4)]
    public void QuantizedLayer_AppliesGeluToItsBiasedOutput(LinearPrecision precision)
    {
        var random = new GaussianRandom(22);
        float[,] x = random.NextMatrix(3, 128, 1);
        float[,] weight = random.NextMatrix(10, 128, 0.1);
        float[] bias = Row(random.NextMatrix(1, 10, 1));
        using LinearLayer plain = LinearLayer.Create(_engine, precision, weight, bias);
        using LinearLayer activated = LinearLayer.Create(
            _engine, precision, weight, bias, new LinearLayerOptions { Activation = Activation.GeluTanh });

        float[,] linear = plain.Forward(_engine, x);
        float[,] expected = new float[linear.GetLength(0), linear.GetLength(1)];
        for (int r = 0; r < linear.GetLength(0); r++)
        {
            for (int c = 0; c < linear.GetLength(1); c++)
            {
                expected[r, c] = (float)ReferenceMath.GeluTanh(linear[r, c]);
            }
        }

        Assert.That(RelativeError.Of(activated.Forward(_engine, x), expected), Is.LessThanOrEqualTo(1e-5));
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
