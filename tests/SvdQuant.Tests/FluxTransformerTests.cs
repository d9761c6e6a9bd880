using System;
using System.IO;
using NUnit.Framework;
using SvdQuant.Formats;
using SvdQuant.Models;

namespace SvdQuant.Tests;

/// <summary>The FLUX transformer through the managed API on the tiny reference model.</summary>
public sealed class FluxTransformerTests
{
    private static readonly string Model = Path.Combine(AppContext.BaseDirectory, "data", "flux-tiny");

    private Engine _engine = null!;

    [SetUp]
    public void StartEngine() => _engine = new Engine();

    [TearDown]
    public void StopEngine() => _engine.Dispose();

    [Test]
    public void FloatForward_MatchesDiffusers()
    {
        using FluxTransformer model = FluxTransformer.Load(_engine, Model);

        float[] output = model.Forward(_engine, ReadInputs());

        Assert.Multiple(() =>
        {
            Assert.That(MaxRelativeError(output, ReadExpected()), Is.LessThan(1e-4));
            Assert.That(model.Info.Layers, Is.EqualTo(2));
            Assert.That(model.Info.SingleLayers, Is.EqualTo(2));
            Assert.That(model.Info.GuidanceEmbeds, Is.True);
            Assert.That(model.Info.ParameterCount, Is.EqualTo(482_768));
            Assert.That(model.Info.WeightBytes, Is.EqualTo(482_768 * 4));
        });
    }

    [Test]
    public void QuantizedBlocks_StayCloseAndTakeLessMemory()
    {
        using FluxTransformer model = FluxTransformer.Load(_engine, Model, new FluxLoadOptions { BlockPrecision = LinearPrecision.W4A4 });

        double error = MaxRelativeError(model.Forward(_engine, ReadInputs()), ReadExpected());

        // Measured 0.12 for round-to-nearest W4A4 blocks on this random-weight model.
        Assert.Multiple(() =>
        {
            Assert.That(error, Is.InRange(1e-3, 0.3));
            Assert.That(model.Info.BlockPrecision, Is.EqualTo(LinearPrecision.W4A4));
            Assert.That(model.Info.WeightBytes, Is.LessThan(482_768 * 4 / 2));
        });
    }

    [Test]
    public void MissingGuidance_IsANamedError()
    {
        using FluxTransformer model = FluxTransformer.Load(_engine, Model);
        FluxInputs inputs = ReadInputs();
        var withoutGuidance = new FluxInputs
        {
            Batch = inputs.Batch, ImageTokens = inputs.ImageTokens, TextTokens = inputs.TextTokens,
            HiddenStates = inputs.HiddenStates, EncoderHiddenStates = inputs.EncoderHiddenStates,
            PooledProjections = inputs.PooledProjections, Timestep = inputs.Timestep,
            ImageIds = inputs.ImageIds, TextIds = inputs.TextIds,
        };

        var e = Assert.Throws<SvdQuantException>(() => model.Forward(_engine, withoutGuidance));
        Assert.That(e!.Message, Does.Contain("guidance"));
    }

    [Test]
    public void MissingFolder_IsAnIoError()
    {
        var e = Assert.Throws<SvdQuantException>(() => FluxTransformer.Load(_engine, "/nonexistent/flux"));
        Assert.Multiple(() =>
        {
            Assert.That(e!.Status, Is.EqualTo(StatusCode.Io));
            Assert.That(e.Message, Does.Contain("/nonexistent/flux"));
        });
    }

    [Test]
    public void UseAfterDispose_Throws()
    {
        FluxTransformer model = FluxTransformer.Load(_engine, Model);
        model.Dispose();
        model.Dispose();

        Assert.Throws<ObjectDisposedException>(() => model.Forward(_engine, ReadInputs()));
    }

    internal static FluxInputs ReadInputs()
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(Path.Combine(Model, "inputs.safetensors"));
        return new FluxInputs
        {
            Batch = 2,
            ImageTokens = 16,
            TextTokens = 8,
            HiddenStates = file.ReadFloats("hidden_states"),
            EncoderHiddenStates = file.ReadFloats("encoder_hidden_states"),
            PooledProjections = file.ReadFloats("pooled_projections"),
            Timestep = file.ReadFloats("timestep"),
            Guidance = file.ReadFloats("guidance"),
            ImageIds = file.ReadFloats("img_ids"),
            TextIds = file.ReadFloats("txt_ids"),
        };
    }

    private static float[] ReadExpected()
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(Path.Combine(Model, "expected.safetensors"));
        return file.ReadFloats("output");
    }

    private static double MaxRelativeError(float[] actual, float[] expected)
    {
        double diff = 0, scale = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs(actual[i] - expected[i]));
            scale = Math.Max(scale, Math.Abs(expected[i]));
        }

        return diff / scale;
    }
}
