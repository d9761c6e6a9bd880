using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Models;

namespace SvdQuant.Tests;

/// <summary>
/// The fastest kernels agree with the scalar reference, also on a layer that one engine
/// prepared and another runs (layers may be shared between engines).
/// </summary>
public sealed class KernelLevelTests
{
    [TestCase(LinearScheme.Float)]
    [TestCase(LinearScheme.W4A16)]
    [TestCase(LinearScheme.W4A4)]
    public void BestLevel_MatchesScalar_WhicheverEnginePreparedTheLayer(LinearScheme precision)
    {
        var random = new GaussianRandom(71);
        float[,] weight = random.NextMatrix(37, 192, 1);
        float[,] x = random.NextMatrix(9, 192, 1);
        using var scalar = new Engine(new EngineOptions { CpuLevel = CpuLevel.Scalar });
        using var best = new Engine();
        using LinearLayer preparedByScalar = LinearLayer.Create(scalar, precision, weight);
        using LinearLayer preparedByBest = LinearLayer.Create(best, precision, weight);

        float[,] reference = preparedByScalar.Forward(scalar, x);
        // A layer runs the kernels of the engine that prepared it; the best level's W4A16
        // reads x rounded to BF16 at Avx512Bf16.
        float[,] bestReference = precision == LinearScheme.W4A16
            ? preparedByScalar.Forward(scalar, ReferenceMath.W4A16Input(x, best.CpuLevel))
            : reference;

        Assert.Multiple(() =>
        {
            Assert.That(RelativeError.Of(preparedByBest.Forward(best, x), bestReference), Is.LessThan(1e-5), "best level");
            Assert.That(RelativeError.Of(preparedByScalar.Forward(best, x), reference), Is.LessThan(1e-5), "scalar-prepared layer on the best level");
            Assert.That(RelativeError.Of(preparedByBest.Forward(scalar, x), bestReference), Is.LessThan(1e-5), "best-prepared layer on scalar");
        });
    }
}
