using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using SvdQuant.Generation;
using SvdQuant.Models;
using static SvdQuant.Tests.FluxTinyGeneration;

namespace SvdQuant.Tests;

/// <summary>
/// FLUX generation through the managed API on flux-tiny: Euler against the flow-matching update
/// written here over <see cref="FluxTransformer.Forward"/>, progress, cancellation and a correct
/// rerun, seeds, the preview against ComfyUI's factors, the PNG file and bad options named.
/// </summary>
public sealed class FluxGeneratorTests
{
    // Base sigmas kept as they are (shift 1): the schedule is these and 0.
    private static readonly float[] Sigmas = [1f, 0.75f, 0.5f, 0.25f];

    private Engine _engine = null!;
    private FluxTransformer _model = null!;

    [SetUp]
    public void Load()
    {
        _engine = new Engine();
        _model = FluxTransformer.Load(_engine, Model);
    }

    [TearDown]
    public void Unload()
    {
        _model.Dispose();
        _engine.Dispose();
    }

    private static GenerationOptions TinyOptions() => new() { Width = Width, Height = Height, Sigmas = Sigmas, Shift = 1f, Guidance = 2.5f };

    private static GenerationInputs NoiseInputs() => new(Prompt()) { Noise = Noise() };

    [Test]
    public void Euler_WithGivenNoise_IsTheFlowMatchingUpdateOverTheTransformer()
    {
        using FluxGenerator generator = FluxGenerator.Create(_model, TinyOptions());
        GenerationResult result = generator.Generate(_engine, NoiseInputs());

        // FlowMatchEulerDiscreteScheduler.step: x <- x + (sigma_next - sigma) v, v the transformer at
        // timestep = sigma (t / 1000) with the embedded guidance, img_ids (0, row, col) over the 3 x 4
        // patches and zero txt_ids, in float32 as the pipeline computes it: equal bit for bit.
        float[] x = Noise();
        TextConditioning prompt = Prompt();
        float[] schedule = [.. Sigmas, 0f];
        for (int i = 0; i + 1 < schedule.Length; i++)
        {
            float[] v = _model.Forward(_engine, new FluxInputs
            {
                Batch = 1, ImageTokens = Tokens, TextTokens = TextTokens, HiddenStates = x,
                EncoderHiddenStates = prompt.EncoderHiddenStates, PooledProjections = prompt.PooledProjections,
                Timestep = [schedule[i]], Guidance = [2.5f], ImageIds = ImageIds(), TextIds = new float[TextTokens * 3],
            });
            float dt = schedule[i + 1] - schedule[i];
            x = x.Select((value, j) => value + dt * v[j]).ToArray();
        }

        Assert.Multiple(() =>
        {
            Assert.That(result.Latents, Is.EqualTo(x), "bit for bit");
            Assert.That(x.Zip(Noise(), (a, b) => Math.Abs(a - b)).Max(), Is.GreaterThan(0.1f), "the steps moved the latents");
            Assert.That(generator.LatentShape, Is.EqualTo(new long[] { 1, Tokens, Features }));
            Assert.That((result.Steps, result.Evaluations, result.CachedEvaluations, result.GuidanceIgnored), Is.EqualTo((4, 4, 0, false)));
            Assert.That((result.LatentChannels, result.LatentHeight, result.LatentWidth), Is.EqualTo((4, 6, 8)));
            Assert.That(result.Seconds, Is.GreaterThan(0));
        });
    }

    [Test]
    public void Progress_ReportsEveryStepInOrder()
    {
        using FluxGenerator generator = FluxGenerator.Create(_model, TinyOptions());
        var steps = new List<GenerationProgress>();
        generator.Generate(_engine, NoiseInputs(), new Reporter(steps.Add));

        Assert.Multiple(() =>
        {
            Assert.That(steps.Select(s => s.Step), Is.EqualTo(new[] { 1, 2, 3, 4 }));
            Assert.That(steps.Select(s => s.Total), Is.All.EqualTo(4));
            Assert.That(steps.Select(s => s.Sigma), Is.EqualTo(new[] { 0.75f, 0.5f, 0.25f, 0f }), "the sigma each step arrived at");
            Assert.That(steps.Select(s => s.ElapsedSeconds), Is.Ordered.And.All.GreaterThan(0));
            Assert.That(steps.Select(s => s.SecondsPerStep), Is.EqualTo(steps.Select(s => s.ElapsedSeconds / s.Step)));
            Assert.That(steps[1].Remaining, Is.EqualTo(TimeSpan.FromSeconds(steps[1].ElapsedSeconds / 2 * 2)));
            Assert.That(steps[3].Remaining, Is.EqualTo(TimeSpan.Zero));
        });
    }

    [Test]
    public void Cancellation_MidRun_Throws_AndTheNextRunIsExact()
    {
        using FluxGenerator generator = FluxGenerator.Create(_model, TinyOptions());
        float[] uncancelled = generator.Generate(_engine, NoiseInputs()).Latents;
        using var cancel = new CancellationTokenSource();
        var seen = new List<int>();
        var reporter = new Reporter(s =>
        {
            seen.Add(s.Step);
            if (s.Step == 2)
            {
                cancel.Cancel();
            }
        });

        var thrown = Assert.Throws<OperationCanceledException>(() => generator.Generate(_engine, NoiseInputs(), reporter, cancel.Token));

        Assert.Multiple(() =>
        {
            Assert.That(thrown!.CancellationToken, Is.EqualTo(cancel.Token));
            Assert.That(seen, Is.EqualTo(new[] { 1, 2 }), "stopped after the step that cancelled");
            Assert.That(generator.Generate(_engine, NoiseInputs()).Latents, Is.EqualTo(uncancelled), "the same generator again, bit for bit");
        });
    }

    [Test]
    public async Task GenerateAsync_RunsAndCancels()
    {
        using FluxGenerator generator = FluxGenerator.Create(_model, TinyOptions());
        float[] expected = generator.Generate(_engine, NoiseInputs()).Latents;
        GenerationResult result = await generator.GenerateAsync(_engine, NoiseInputs());
        Assert.That(result.Latents, Is.EqualTo(expected));

        using var cancel = new CancellationTokenSource();
        var reporter = new Reporter(s => cancel.Cancel());
        Assert.CatchAsync<OperationCanceledException>(() => generator.GenerateAsync(_engine, NoiseInputs(), reporter, cancel.Token));
        Assert.That((await generator.GenerateAsync(_engine, NoiseInputs())).Latents, Is.EqualTo(expected));
    }

    [Test]
    public void AThrowingProgressHandler_StopsTheRunAndIsRethrown()
    {
        using FluxGenerator generator = FluxGenerator.Create(_model, TinyOptions());
        var failure = new InvalidOperationException("handler failed");
        int calls = 0;

        var thrown = Assert.Throws<InvalidOperationException>(() => generator.Generate(_engine, NoiseInputs(), new Reporter(_ =>
        {
            calls++;
            throw failure;
        })));

        Assert.Multiple(() =>
        {
            Assert.That(thrown, Is.SameAs(failure));
            Assert.That(calls, Is.EqualTo(1), "no step after the one that threw");
            Assert.That(generator.Generate(_engine, NoiseInputs()).Steps, Is.EqualTo(4), "the generator runs again");
        });
    }

    [Test]
    public void Seeds_SameSeedSameLatents_DifferentSeedDifferent()
    {
        float[] Run(ulong seed, FluxSampler sampler)
        {
            GenerationOptions options = TinyOptions();
            options.Seed = seed;
            options.Sampler = sampler;
            using FluxGenerator generator = FluxGenerator.Create(_model, options);
            return generator.Generate(_engine, new GenerationInputs(Prompt())).Latents;
        }

        foreach (FluxSampler sampler in Enum.GetValues<FluxSampler>())
        {
            float[] first = Run(7, sampler);
            Assert.That(Run(7, sampler), Is.EqualTo(first), $"{sampler}: seed 7 twice");
            double difference = first.Zip(Run(8, sampler), (a, b) => Math.Abs(a - b)).Average();
            TestContext.Out.WriteLine($"{sampler}: mean |latents(seed 7) - latents(seed 8)| = {difference:0.000}");
            // Another seed's noise moves every value: measured 1.56 (Euler, Heun, DPM++2M) and 1.30 (Euler-a;
            // two unit Gaussians differ by 2 / sqrt(pi) = 1.13 on average); a seed that is not used gives 0.
            Assert.That(difference, Is.GreaterThan(1.0), $"{sampler}: seeds 7 and 8");
        }
    }

    [Test]
    public void Samplers_MapToTheirNativeStrategies()
    {
        // Heun evaluates twice on every step but the last (to sigma 0); the others once.
        var evaluations = new Dictionary<FluxSampler, int>();
        foreach (FluxSampler sampler in Enum.GetValues<FluxSampler>())
        {
            GenerationOptions options = TinyOptions();
            options.Sampler = sampler;
            using FluxGenerator generator = FluxGenerator.Create(_model, options);
            evaluations[sampler] = generator.Generate(_engine, NoiseInputs()).Evaluations;
        }

        Assert.That(evaluations, Is.EqualTo(new Dictionary<FluxSampler, int>
        {
            [FluxSampler.Euler] = 4, [FluxSampler.Heun] = 7, [FluxSampler.DpmPlusPlus2M] = 4, [FluxSampler.EulerAncestral] = 4,
        }));
    }

    [Test]
    public void TheModelDisposedFirst_LivesOnUntilTheGeneratorIsDisposed()
    {
        using FluxGenerator generator = FluxGenerator.Create(_model, TinyOptions());
        float[] before = generator.Generate(_engine, NoiseInputs()).Latents;
        _model.Dispose();

        Assert.That(generator.Generate(_engine, NoiseInputs()).Latents, Is.EqualTo(before), "the native model is still there");
        generator.Dispose();
        Assert.Throws<ObjectDisposedException>(() => generator.Generate(_engine, NoiseInputs()));
        Assert.Throws<ObjectDisposedException>(() => FluxGenerator.Create(_model, TinyOptions()), "the model is freed with the generator");
    }

    [Test]
    public void ANamedSchedulerConfig_DecidesTheSchedule_AndAMissingOneIsNamed()
    {
        // A fixed shift of 3: each of 4 steps' sigmas s becomes 3 s / (1 + 2 s).
        string config = Path.Combine(Path.GetTempPath(), $"svdq-scheduler-{Guid.NewGuid():N}.json");
        File.WriteAllText(config, """{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0, "use_dynamic_shifting": false}""");
        try
        {
            var named = new GenerationOptions { Width = Width, Height = Height, Steps = 4, SchedulerConfig = config };
            var shifted = new GenerationOptions { Width = Width, Height = Height, Sigmas = [.. Sigmas.Select(s => 3 * s / (1 + (2 * s)))], Shift = 1f };
            using FluxGenerator byConfig = FluxGenerator.Create(_model, named);
            using FluxGenerator byHand = FluxGenerator.Create(_model, shifted);
            using FluxGenerator byDefault = FluxGenerator.Create(_model, new GenerationOptions { Width = Width, Height = Height, Steps = 4 });

            float[] expected = byHand.Generate(_engine, NoiseInputs()).Latents;
            Assert.That(byConfig.Generate(_engine, NoiseInputs()).Latents, Is.EqualTo(expected).Within(1e-5f));
            Assert.That(byDefault.Generate(_engine, NoiseInputs()).Latents, Is.Not.EqualTo(expected).Within(1e-5f), "the model's own schedule differs");
        }
        finally
        {
            File.Delete(config);
        }

        var missing = Assert.Throws<SvdQuantException>(() => FluxGenerator.Create(_model, new GenerationOptions { Width = Width, Height = Height, SchedulerConfig = config }))!;
        Assert.That((missing.Status, missing.Message.Contains(config, StringComparison.Ordinal)), Is.EqualTo((StatusCode.Io, true)), missing.Message);
    }

    [TestCase(nameof(GenerationOptions.Width), 8, "width 8")]
    [TestCase(nameof(GenerationOptions.Height), -16, "height -16")]
    [TestCase(nameof(GenerationOptions.Steps), 0, "steps must be in [1, 10000] (got 0)")]
    [TestCase(nameof(GenerationOptions.CacheThreshold), -0.5f, "-0.5")]
    [TestCase(nameof(GenerationOptions.Strength), 1.5f, "strength must be in [0, 1] (got 1.5)")]
    [TestCase(nameof(GenerationOptions.Shift), -1f, "shift -1")]
    public void BadOptions_AreNamed(string option, object value, string named)
    {
        var options = new GenerationOptions { Width = Width, Height = Height };
        typeof(GenerationOptions).GetProperty(option)!.SetValue(options, value);

        var thrown = Assert.Throws<SvdQuantException>(() => FluxGenerator.Create(_model, options));

        Assert.That(thrown!.Message, Does.Contain(named));
        Assert.That(thrown.Status, Is.EqualTo(StatusCode.InvalidArgument));
    }

    [Test]
    public void BadInputs_AreNamed()
    {
        using FluxGenerator generator = FluxGenerator.Create(_model, TinyOptions());
        var wide = new TextConditioning(new float[TextTokens * 40], TextTokens, new float[24]);

        Assert.Multiple(() =>
        {
            Assert.That(() => generator.Generate(_engine, new GenerationInputs(wide)),
                Throws.TypeOf<SvdQuantException>().With.Message.Contains("encoder_hidden_states").And.Message.Contains("40"));
            Assert.That(() => generator.Generate(_engine, new GenerationInputs(Prompt()) { Noise = new float[Tokens * 8] }),
                Throws.TypeOf<SvdQuantException>().With.Message.Contains("noise has 96 values, the latent shape needs 192"));
            Assert.That(() => FluxGenerator.Create(_model, new GenerationOptions { Sigmas = [] }),
                Throws.TypeOf<SvdQuantException>().With.Message.Contains("Sigmas is empty"));
            Assert.That(() => new TextConditioning(new float[10], 3, new float[24]), Throws.ArgumentException.With.Message.Contains("textTokens 3"));
        });
    }

    private static float[] ImageIds()
    {
        var ids = new List<float>();
        for (int r = 0; r < 3; r++)
        {
            for (int c = 0; c < 4; c++)
            {
                ids.AddRange([0f, r, c]);
            }
        }

        return [.. ids];
    }

    // Reports on the generating thread itself (Progress<T> would post to the thread pool).
    private sealed class Reporter(Action<GenerationProgress> report) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value) => report(value);
    }
}
