using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Threading.Tasks;
using CommunityToolkit.HighPerformance;
using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Formats;
using SvdQuant.Generation;
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
        using LinearLayer layer = LinearLayer.Create(engine, LinearScheme.W4A4, new float[8, 64]);
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

    /// <summary>
    /// Each public method that takes an Engine (found by reflection, so a new one without a case fails), called
    /// from another thread while the engine quantizes, throws InvalidOperationException. Every case has valid
    /// inputs: without the check it would run (and race) instead of throwing.
    /// </summary>
    [Test]
    public void EveryEntryPointTakingAnEngine_RefusesWhileACallRuns()
    {
        string folder = Directory.CreateTempSubdirectory("svdq-busy-").FullName;
        try
        {
            var random = new GaussianRandom(71);
            float[,] weight = random.NextMatrix(8, 64, 1);
            float[,] calibration = random.NextMatrix(16, 64, 1);
            string layerInput = Path.Combine(folder, "layer.safetensors");
            string layerFile = Path.Combine(folder, "layer-q.safetensors");
            using (var writer = new SafeTensorsWriter())
            {
                writer.AddTensor("weight", [8, 64], weight.Cast<float>().ToArray());
                writer.Save(layerInput);
            }

            var rtn = new QuantizerOptions { Method = QuantizationMethod.Rtn };
            using var engine = new Engine();
            Quantizer.QuantizeFile(engine, layerInput, layerFile, rtn);
            using LinearLayer layer = LinearLayer.Create(engine, LinearScheme.W4A4, weight);
            using FluxTransformer model = FluxTransformer.Load(engine, Model);
            FluxInputs inputs = FluxTransformerTests.ReadInputs();
            using FluxGenerator generator = FluxGenerator.Create(model, new GenerationOptions { Width = 32, Height = 32, Steps = 1 });
            var generation = new GenerationInputs(FluxTinyGeneration.Prompt());
            string text = Path.Combine(folder, "text");
            TinyTextPipeline.Write(text);
            using ClipTextEncoder clip = ClipTextEncoder.Load(engine, text);
            using T5TextEncoder t5 = T5TextEncoder.Load(engine, text);
            using AutoencoderKL vae = AutoencoderKL.Load(engine, TinyVae.Write(folder));
            var latents = new GenerationResult(new float[64], 4, 4, 4, 1, 1, 0, false, 0);
            string pipeline = Path.Combine(folder, "pipeline");
            SyntheticPipeline.Write(SyntheticPipelineConfig.Tiny, pipeline);
            string loraPath = Path.Combine(folder, "lora.safetensors");
            TestLoras.Write(loraPath, LoraKeyStyle.Diffusers, TinyFluxLora.Modules(LoraKeyStyle.Diffusers));
            using LoraFile loraFile = LoraFile.Load(loraPath);
            LoadedLora loaded = model.Loras.Add(engine, loraFile);

            var cases = new Dictionary<string, Action<Engine>>
            {
                ["LinearLayer.Create"] = e => LinearLayer.Create(e, LinearScheme.Float, weight).Dispose(),
                ["LinearLayer.Load"] = e => LinearLayer.Load(e, layerFile).Dispose(),
                ["LinearLayer.Forward(Engine, Single[,])"] = e => layer.Forward(e, new float[2, 64]),
                ["LinearLayer.Forward(Engine, ReadOnlySpan2D`1, Span2D`1)"] = e => layer.Forward(e, new ReadOnlySpan2D<float>(new float[2, 64]), new Span2D<float>(new float[2, 8])),
                ["LinearLayer.SetLowRankUpdates"] = e => layer.SetLowRankUpdates(e, [new LowRankUpdate(new float[2, 64], new float[8, 2])]),
                ["FluxLoraCollection.Add(Engine, String, Single)"] = e => model.Loras.Add(e, loraPath),
                ["FluxLoraCollection.Add(Engine, LoraFile, Single, String)"] = e => model.Loras.Add(e, loraFile),
                ["FluxLoraCollection.SetStrength"] = e => model.Loras.SetStrength(e, loaded, 0.5f),
                ["FluxLoraCollection.Remove"] = e => model.Loras.Remove(e, loaded),
                ["FluxLoraCollection.Clear"] = e => model.Loras.Clear(e),
                ["Quantizer.Quantize"] = e => Quantizer.Quantize(e, default, weight, options: rtn).Dispose(),
                ["Quantizer.QuantizeGroup"] = e => Quantizer.QuantizeGroup(e, default, [weight], options: rtn).Dispose(),
                ["Quantizer.QuantizeFile"] = e => Quantizer.QuantizeFile(e, layerInput, Path.Combine(folder, "again.safetensors"), rtn),
                ["Quantizer.QuantizeFlux"] = e => Quantizer.QuantizeFlux(e, Model, Path.Combine(folder, "flux-q.safetensors")),
                ["FluxTransformer.Load"] = e => FluxTransformer.Load(e, Model).Dispose(),
                ["FluxTransformer.Forward"] = e => model.Forward(e, inputs),
                ["FluxGenerator.Generate"] = e => generator.Generate(e, generation),
                ["FluxGenerator.GenerateAsync"] = e => generator.GenerateAsync(e, generation).GetAwaiter().GetResult(),
                ["Smoothing.Compute"] = e => Smoothing.Compute(e, calibration, weight),
                ["LowRank.Decompose"] = e => LowRank.Decompose(e, weight, rank: 4),
                ["ClipTextEncoder.Load"] = e => ClipTextEncoder.Load(e, text).Dispose(),
                ["ClipTextEncoder.Encode"] = e => clip.Encode(e, [0, 3, 27]),
                ["T5TextEncoder.Load"] = e => T5TextEncoder.Load(e, text).Dispose(),
                ["T5TextEncoder.Encode"] = e => t5.Encode(e, [4, 1]),
                ["TextEncoders.Load"] = e => TextEncoders.Load(e, text).Dispose(),
                ["FluxPipeline.Load"] = e => FluxPipeline.Load(e, pipeline).Dispose(),
                ["AutoencoderKL.Load"] = e => AutoencoderKL.Load(e, Path.Combine(folder, "vae")).Dispose(),
                ["AutoencoderKL.Decode"] = e => vae.Decode(e, new float[64], [1, 4, 4, 4]),
                ["AutoencoderKL.Encode"] = e => vae.Encode(e, new float[3 * 8 * 8], [1, 3, 8, 8]),
                ["AutoencoderKL.DecodeLatents(Engine, GenerationResult, AutoencoderKLOptions)"] = e => vae.DecodeLatents(e, latents),
                ["AutoencoderKL.DecodeLatents(Engine, Single[], Int32, Int32, AutoencoderKLOptions)"] = e => vae.DecodeLatents(e, new float[64], 4, 4),
                ["AutoencoderKL.DecodeToImage"] = e => vae.DecodeToImage(e, latents),
                ["AutoencoderKL.EncodeImage(Engine, RgbaImage, Boolean, UInt64, AutoencoderKLOptions)"] = e => vae.EncodeImage(e, new RgbaImage(8, 8, new byte[256])),
                ["AutoencoderKL.EncodeImage(Engine, Single[], Int32, Int32, Boolean, UInt64, AutoencoderKLOptions)"] = e => vae.EncodeImage(e, new float[3 * 8 * 8], 8, 8),
            };
            Assert.That(cases.Keys, Is.EquivalentTo(EntryPointsTakingAnEngine()), "one case per entry point");

            var outcomes = new Dictionary<string, Exception?>();
            var duringQuantize = new Stop(() => Task.Run(() =>
            {
                foreach ((string name, Action<Engine> call) in cases)
                {
                    try
                    {
                        call(engine);
                        outcomes[name] = null;
                    }
                    catch (Exception e)
                    {
                        outcomes[name] = e;
                    }
                }
            }).GetAwaiter().GetResult());
            Assert.Throws<OperationCanceledException>(() =>
                Quantizer.QuantizeFlux(engine, Model, Path.Combine(folder, "running.safetensors"), progress: duringQuantize));

            Assert.Multiple(() =>
            {
                foreach ((string name, Exception? outcome) in outcomes)
                {
                    Assert.That(outcome, Is.TypeOf<InvalidOperationException>(), name);
                }
            });
            Assert.That(outcomes.Keys, Is.EquivalentTo(cases.Keys));
            foreach ((string name, Action<Engine> call) in cases)
            {
                Assert.DoesNotThrow(() => call(engine), $"{name} once the engine is free");
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>"Type.Method", with the parameter types for overloads, of each public method with an Engine parameter.</summary>
    private static IEnumerable<string> EntryPointsTakingAnEngine()
    {
        var methods = typeof(Engine).Assembly.GetExportedTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            .Where(m => m.GetParameters().Any(p => p.ParameterType == typeof(Engine)))
            .ToList();
        return methods.Select(m =>
            methods.Count(o => o.DeclaringType == m.DeclaringType && o.Name == m.Name) == 1
                ? $"{m.DeclaringType!.Name}.{m.Name}"
                : $"{m.DeclaringType!.Name}.{m.Name}({string.Join(", ", m.GetParameters().Select(p => p.ParameterType.Name))})");
    }

    [Test]
    public void SeparateEngines_RunAtOnce()
    {
        using var running = new Engine();
        using var other = new Engine();
        using LinearLayer layer = LinearLayer.Create(other, LinearScheme.W4A4, new float[8, 64]);
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
