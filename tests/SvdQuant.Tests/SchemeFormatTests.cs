using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Models;

namespace SvdQuant.Tests;

/// <summary>One vocabulary: a layer's scheme and number format, what each defaults to, and the pairs that do not exist.</summary>
public sealed class SchemeFormatTests
{
    private Engine _engine = null!;

    [SetUp]
    public void StartEngine() => _engine = new Engine();

    [TearDown]
    public void StopEngine() => _engine.Dispose();

    [TestCase(LinearScheme.Float, NumberFormat.Float)]
    [TestCase(LinearScheme.W4A16, NumberFormat.Int4)]
    [TestCase(LinearScheme.W4A4, NumberFormat.Int4)]
    public void WithoutAFormat_ALayerTakesItsSchemesOwn(LinearScheme scheme, NumberFormat expected)
    {
        using LinearLayer layer = LinearLayer.Create(_engine, scheme, new GaussianRandom(3).NextMatrix(8, 64, 0.1));
        Assert.That(layer.Info.Scheme, Is.EqualTo(scheme));
        Assert.That(layer.Info.Format, Is.EqualTo(expected));
    }

    [Test]
    public void Nvfp4W4A4_ReportsNvfp4()
    {
        using LinearLayer layer = LinearLayer.Create(_engine, LinearScheme.W4A4, new GaussianRandom(4).NextMatrix(8, 64, 0.1),
            options: new LinearLayerOptions { Format = NumberFormat.Nvfp4 });
        Assert.That(layer.Info.Format, Is.EqualTo(NumberFormat.Nvfp4));
    }

    [TestCase(LinearScheme.W4A16, NumberFormat.Nvfp4)]
    [TestCase(LinearScheme.W4A4, NumberFormat.Float)]
    [TestCase(LinearScheme.Float, NumberFormat.Int4)]
    public void PairsThatDoNotExist_AreRefusedByName(LinearScheme scheme, NumberFormat format)
    {
        float[,] weight = new GaussianRandom(5).NextMatrix(8, 64, 0.1);
        var e = Assert.Throws<SvdQuantException>(() =>
            LinearLayer.Create(_engine, scheme, weight, options: new LinearLayerOptions { Format = format }).Dispose());
        Assert.That(e!.Status, Is.EqualTo(StatusCode.Unsupported));
        Assert.That(e.Message, Does.Contain($"a {scheme.ToString().ToUpperInvariant()} layer in format {format.ToString().ToUpperInvariant()} does not exist"));
    }
}
