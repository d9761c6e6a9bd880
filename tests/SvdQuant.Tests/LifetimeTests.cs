using System;
using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Models;

namespace SvdQuant.Tests;

/// <summary>Dispose semantics of engines and layers.</summary>
public sealed class LifetimeTests
{
    private readonly float[,] _weight = new GaussianRandom(51).NextMatrix(4, 64, 1);

    [Test]
    public void Engine_DisposedTwice_IsFine()
    {
        var engine = new Engine();
        engine.Dispose();

        Assert.DoesNotThrow(engine.Dispose);
    }

    [Test]
    public void Layer_DisposedTwice_IsFine()
    {
        using var engine = new Engine();
        LinearLayer layer = LinearLayer.Create(engine, LinearScheme.W4A4, _weight);
        layer.Dispose();

        Assert.DoesNotThrow(layer.Dispose);
    }

    [Test]
    public void Layer_UsedAfterDispose_ThrowsObjectDisposed()
    {
        using var engine = new Engine();
        LinearLayer layer = LinearLayer.Create(engine, LinearScheme.W4A4, _weight);
        layer.Dispose();

        var e = Assert.Throws<ObjectDisposedException>(() => layer.Forward(engine, new float[1, 64]));
        Assert.That(e.ObjectName, Is.EqualTo(nameof(LinearLayer)));
    }

    [Test]
    public void Engine_UsedAfterDispose_ThrowsObjectDisposed()
    {
        var engine = new Engine();
        using LinearLayer layer = LinearLayer.Create(engine, LinearScheme.W4A4, _weight);
        engine.Dispose();

        Assert.Multiple(() =>
        {
            Assert.That(() => layer.Forward(engine, new float[1, 64]),
                Throws.TypeOf<ObjectDisposedException>().With.Property(nameof(ObjectDisposedException.ObjectName)).EqualTo(nameof(Engine)));
            Assert.That(() => LinearLayer.Create(engine, LinearScheme.Float, _weight), Throws.TypeOf<ObjectDisposedException>());
        });
    }

    [Test]
    public void Layer_OutlivesTheEngineThatCreatedIt()
    {
        LinearLayer layer;
        using (var creator = new Engine())
        {
            layer = LinearLayer.Create(creator, LinearScheme.Float, _weight);
        }

        using (layer)
        using (var runner = new Engine())
        {
            var x = new GaussianRandom(52).NextMatrix(3, 64, 1);
            Assert.That(RelativeError.Of(layer.Forward(runner, x), ReferenceMath.Linear(x, _weight)), Is.LessThanOrEqualTo(1e-5));
        }
    }
}
