using System;
using System.IO;
using System.Linq;
using NUnit.Framework;
using SvdQuant.Benchmarks;
using SvdQuant.Cli.Demo;
using SvdQuant.Formats;
using SvdQuant.Models;

namespace SvdQuant.Tests;

/// <summary>
/// The generator of the full-size FLUX step benchmark (<c>FluxStepBenchmarks</c>), at FLUX.1-schnell's
/// config and block counts but one head (width 128): the file is a Nunchaku checkpoint the engine
/// inspects and loads as the scheme it was written for, with the float model's parameter count, and a
/// forward through all 57 blocks is finite, of a sane size and deterministic, as is the file itself.
/// </summary>
public sealed class RandomFluxCheckpointTests
{
    private static readonly SyntheticFluxConfig Config = SyntheticFluxConfig.Flux1Schnell(19, 38) with { Heads = 1 };

    [TestCase(LinearScheme.W4A4, CheckpointFlavour.NunchakuInt4Diffusers, 8 * 19 + 4 * 38, 2 * 19 + 38)]
    [TestCase(LinearScheme.W4A16, CheckpointFlavour.DiffusersFloat, 0, 10 * 19 + 5 * 38)]
    public void WritesALoadableCheckpointWhoseForwardIsFiniteAndDeterministic(
        LinearScheme scheme, CheckpointFlavour flavour, int w4a4Layers, int w4a16Layers)
    {
        RandomFluxWeights weights = scheme == LinearScheme.W4A4 ? RandomFluxWeights.W4A4 : RandomFluxWeights.W4A16;
        string directory = Directory.CreateTempSubdirectory("svdq-random-flux-").FullName;
        try
        {
            Check(weights, scheme, flavour, w4a4Layers, w4a16Layers, directory);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static void Check(RandomFluxWeights weights, LinearScheme scheme, CheckpointFlavour flavour, int w4a4Layers, int w4a16Layers, string directory)
    {
        string path = Path.Combine(directory, "model.safetensors"), again = Path.Combine(directory, "again.safetensors");
        RandomFluxCheckpoint.Write(Config, weights, path);
        RandomFluxCheckpoint.Write(Config, weights, again);

        CheckpointInfo info;
        using (SafeTensorsFile file = SafeTensorsFile.Open(path))
        {
            info = file.DetectFlavour();
        }

        using var engine = new Engine();
        using FluxTransformer model = FluxTransformer.Load(engine, path);
        FluxInputs inputs = SyntheticFlux.Inputs(Config, grid: 4, textTokens: 8);
        float[] first = model.Forward(engine, inputs), second = model.Forward(engine, inputs);
        double rms = Math.Sqrt(first.Average(v => (double)v * v));
        TestContext.Out.WriteLine($"{weights}: output rms {rms:G3}, max |y| {first.Max(Math.Abs):G3}");

        Assert.Multiple(() =>
        {
            Assert.That(File.ReadAllBytes(again), Is.EqualTo(File.ReadAllBytes(path)), "the same bytes on every run");
            Assert.That(info.Flavour, Is.EqualTo(flavour));
            Assert.That(info.W4A4Layers, Is.EqualTo(w4a4Layers));
            Assert.That(info.W4A16Layers, Is.EqualTo(w4a16Layers));
            Assert.That(info.Rank, Is.EqualTo(weights == RandomFluxWeights.W4A4 ? RandomFluxCheckpoint.Rank : 0));
            Assert.That(model.Info.Layers, Is.EqualTo(19));
            Assert.That(model.Info.SingleLayers, Is.EqualTo(38));
            Assert.That(model.Info.GuidanceEmbeds, Is.False);
            Assert.That(model.Info.BlockScheme, Is.EqualTo(scheme));
            Assert.That(model.Info.BlockFormat, Is.EqualTo(NumberFormat.Int4));
            Assert.That(model.Info.ParameterCount, Is.EqualTo(RandomFluxCheckpoint.ParameterCount(Config)));
            Assert.That(first.Length, Is.EqualTo(16 * 64));
            Assert.That(first.All(float.IsFinite), Is.True);
            Assert.That(rms, Is.InRange(1e-2, 1e2), "activations stay in range through 57 blocks");
            Assert.That(second, Is.EqualTo(first));
        });
    }
}
