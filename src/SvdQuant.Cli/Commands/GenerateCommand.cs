using System;
using System.Collections.Generic;
using System.Threading;
using Spectre.Console;
using Spectre.Console.Cli;
using SvdQuant.Formats;
using SvdQuant.Generation;
using SvdQuant.Models;

namespace SvdQuant.Cli.Commands;

/// <summary>
/// <c>svdquant generate</c>: latents from text-encoder outputs with a FLUX transformer, saved as
/// the latent RGB preview PNG (and optionally the latents), with a progress bar over the steps.
/// Bad input (a size, step count, sampler, embeddings or noise that does not fit) is one line
/// naming it, exit code 2, and no file; Ctrl+C cancels at the next step, exit code 130, no file.
/// </summary>
internal sealed class GenerateCommand : FileCommand<GenerateSettings>
{
    private const float DefaultGuidance = 3.5f;

    // One preview pixel per image pixel: the PNG has the image's size.
    private const int PreviewUpscale = 8;

    private static readonly Dictionary<string, FluxSampler> Samplers = new(StringComparer.Ordinal)
    {
        ["euler"] = FluxSampler.Euler,
        ["heun"] = FluxSampler.Heun,
        ["dpmpp2m"] = FluxSampler.DpmPlusPlus2M,
        ["euler_a"] = FluxSampler.EulerAncestral,
    };

    protected override int Run(GenerateSettings settings, CancellationToken cancellationToken)
    {
        if (!Samplers.TryGetValue(settings.Sampler, out FluxSampler sampler))
        {
            return Fail($"unknown sampler '{settings.Sampler}'; use euler, heun, dpmpp2m or euler_a");
        }

        if (settings.Width < 16 || settings.Height < 16)
        {
            return Fail($"the image is {settings.Width} x {settings.Height} pixels; width and height must be at least 16 (one 2 x 2 patch of latents)");
        }

        if (settings.Steps < 1)
        {
            return Fail($"--steps {settings.Steps} must be at least 1");
        }

        foreach (string? output in new[] { settings.Output, settings.LatentsOut })
        {
            if (output is not null)
            {
                RefuseToOverwriteInputs(output, settings.Model, settings.Embeddings, settings.Negative, settings.Noise);
            }
        }

        var options = new GenerationOptions
        {
            Width = settings.Width,
            Height = settings.Height,
            Steps = settings.Steps,
            Guidance = settings.Guidance ?? DefaultGuidance,
            TrueCfgScale = settings.TrueCfg,
            Sampler = sampler,
            Seed = settings.Seed,
            CacheThreshold = settings.Cache,
        };
        try
        {
            using var engine = new Engine();
            using FluxTransformer model = FluxTransformer.Load(engine, settings.Model);
            using FluxGenerator generator = FluxGenerator.Create(model, options);
            var inputs = new GenerationInputs(TextConditioning.Load(settings.Embeddings))
            {
                Negative = settings.Negative is null ? null : TextConditioning.Load(settings.Negative),
                Noise = settings.Noise is null ? null : ReadNoise(settings.Noise, generator.LatentShape),
            };
            if (settings.Guidance is not null && !model.Info.GuidanceEmbeds)
            {
                Console.Error.WriteLine("svdquant: note: --guidance ignored: the model has no guidance embedding");
            }

            AnsiConsole.MarkupLineInterpolated(
                $"FLUX generate: {settings.Width / 16 * 16} x {settings.Height / 16 * 16}, {settings.Steps} steps, {settings.Sampler}, seed {(settings.Noise is null ? settings.Seed.ToString() : settings.Noise)}");
            GenerationResult result = Generate(engine, generator, inputs, cancellationToken);

            result.Preview(PreviewUpscale).SavePng(settings.Output);
            if (settings.LatentsOut is not null)
            {
                using var writer = new SafeTensorsWriter();
                writer.AddTensor("latents", generator.LatentShape, result.Latents);
                writer.Save(settings.LatentsOut);
            }

            AnsiConsole.MarkupLineInterpolated(
                $"{settings.Output}: {result.LatentWidth * 8} x {result.LatentHeight * 8}, {result.Steps} steps, {result.Evaluations} evaluations ({result.CachedEvaluations} cached) in {result.Seconds:0.00} s{(settings.LatentsOut is null ? "" : $"; latents -> {settings.LatentsOut}")}");
            return 0;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("svdquant: cancelled; no file written");
            return 130;
        }
    }

    private static GenerationResult Generate(Engine engine, FluxGenerator generator, GenerationInputs inputs, CancellationToken cancellationToken)
    {
        GenerationResult? result = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(progress =>
            {
                ProgressTask task = progress.AddTask("step 0", maxValue: 1);
                var report = new Reporter(step =>
                {
                    task.MaxValue = step.Total;
                    task.Value = step.Step;
                    task.Description = $"step {step.Step}/{step.Total}, {step.SecondsPerStep:0.00} s/step, ETA {step.Remaining:hh\\:mm\\:ss}";
                });
                result = generator.Generate(engine, inputs, report, cancellationToken);
            });
        return result!;
    }

    // `noise` [1, S_img, in_channels] exactly: a reshaped tensor is refused, not reinterpreted.
    private static float[] ReadNoise(string path, long[] latentShape)
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        if (!file.TryGetTensor("noise", out TensorInfo noise))
        {
            throw new SvdQuantException(StatusCode.Format, $"{path}: missing tensor 'noise' [{string.Join(", ", latentShape)}]");
        }

        if (!System.Linq.Enumerable.SequenceEqual(noise.Shape, latentShape))
        {
            throw new SvdQuantException(
                StatusCode.ShapeMismatch, $"{path}: noise is [{string.Join(", ", noise.Shape)}], this model and size need [{string.Join(", ", latentShape)}]");
        }

        return file.ReadFloats("noise");
    }

    // Reports on the generating thread itself (Progress<T> would post to the thread pool).
    private sealed class Reporter(Action<GenerationProgress> report) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value) => report(value);
    }
}
