using System;
using System.IO;
using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Generation;
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

    /// <summary>
    /// Models whose memory the engine's backend frees (FLUX, a generator on it, the VAE, CLIP, T5) disposed after
    /// their engine: each keeps the native context alive until it is gone, so nothing frees through a dead backend
    /// (this crashed the process), and the disposed engine refuses calls as before.
    /// </summary>
    [Test]
    public void Models_DisposedAfterTheirEngine_FreeThroughAContextKeptAlive()
    {
        string folder = Directory.CreateTempSubdirectory("svdq-lifetime-").FullName;
        try
        {
            TinyTextPipeline.Write(folder);
            string vaeFolder = TinyVae.Write(folder);
            var engine = new Engine();
            var flux = FluxTransformer.Load(engine, FluxTinyGeneration.Model);
            var generator = FluxGenerator.Create(flux, new GenerationOptions { Width = 64, Height = 48, Steps = 1 });
            var vae = AutoencoderKL.Load(engine, vaeFolder);
            var clip = ClipTextEncoder.Load(engine, Path.Combine(folder, "text_encoder"));
            var t5 = T5TextEncoder.Load(engine, Path.Combine(folder, "text_encoder_2"));

            engine.Dispose();
            flux.Dispose();
            Assert.Throws<ObjectDisposedException>(() => generator.Generate(engine, new GenerationInputs(FluxTinyGeneration.Prompt())));
            generator.Dispose();
            vae.Dispose();
            clip.Dispose();
            t5.Dispose();

            Assert.That(() => new Engine().Dispose(), Throws.Nothing, "the engine still starts afterwards");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
