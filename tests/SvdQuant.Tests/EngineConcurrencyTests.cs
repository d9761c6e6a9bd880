using System;
using System.IO;
using System.Threading.Tasks;
using NUnit.Framework;
using SvdQuant.Models;
using SvdQuant.Quantization;

namespace SvdQuant.Tests;

/// <summary>
/// An engine serves one call at a time: a second call while one runs, from another thread or from
/// the running call's own progress handler, throws InvalidOperationException and leaves the engine
/// usable, where it used to race on native scratch memory.
/// </summary>
public sealed class EngineConcurrencyTests
{
    private static readonly string Model = Path.Combine(AppContext.BaseDirectory, "data", "flux-tiny");

    [Test]
    public void ASecondCallWhileOneRuns_Throws([Values] bool fromAnotherThread)
    {
        using var engine = new Engine();
        using LinearLayer layer = LinearLayer.Create(engine, LinearPrecision.W4A4, new float[8, 64]);
        string output = Path.Combine(Path.GetTempPath(), $"svdq-busy-{Guid.NewGuid():N}.safetensors");
        Exception? refused = null;
        var duringQuantize = new Stop(() =>
        {
            Action secondCall = () => layer.Forward(engine, new float[2, 64]);
            try
            {
                if (fromAnotherThread)
                {
                    Task.Run(secondCall).GetAwaiter().GetResult();
                }
                else
                {
                    secondCall();
                }
            }
            catch (Exception e)
            {
                refused = e;
            }
        });

        Assert.Throws<OperationCanceledException>(() => Quantizer.QuantizeFlux(engine, Model, output, progress: duringQuantize));

        Assert.That(refused, Is.TypeOf<InvalidOperationException>().With.Message.Contains("one call at a time"));
        Assert.That(layer.Forward(engine, new float[2, 64]), Has.Length.EqualTo(16), "the engine is free again");
        Assert.That(File.Exists(output), Is.False);
    }

    [Test]
    public void SeparateEngines_RunAtOnce()
    {
        using var running = new Engine();
        using var other = new Engine();
        using LinearLayer layer = LinearLayer.Create(other, LinearPrecision.W4A4, new float[8, 64]);
        string output = Path.Combine(Path.GetTempPath(), $"svdq-busy-{Guid.NewGuid():N}.safetensors");
        float[,]? y = null;
        var duringQuantize = new Stop(() => y = Task.Run(() => layer.Forward(other, new float[2, 64])).GetAwaiter().GetResult());

        Assert.Throws<OperationCanceledException>(() => Quantizer.QuantizeFlux(running, Model, output, progress: duringQuantize));
        Assert.That(y, Is.Not.Null);
    }

    /// <summary>Runs an action at the first progress report, then cancels the run (synchronously, unlike Progress&lt;T&gt;).</summary>
    private sealed class Stop(Action action) : IProgress<FluxQuantizeProgress>
    {
        public void Report(FluxQuantizeProgress value)
        {
            action();
            throw new OperationCanceledException("stop after the first layer");
        }
    }
}
