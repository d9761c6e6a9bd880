using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Spectre.Console;
using Spectre.Console.Cli;
using SvdQuant.Formats;
using SvdQuant.Generation;
using SvdQuant.Models;
using SvdQuant.Quantization;

namespace SvdQuant.Cli.Commands;

/// <summary>
/// <c>svdquant generate</c>: with a diffusers FLUX pipeline folder, a picture from a prompt (or its
/// token ids or text-encoder outputs), optionally image-to-image or inpainting; with a transformer
/// alone, latents from text-encoder outputs saved as the latent RGB preview; either with LoRAs. Optionally the latents
/// and the VAE's float image too; a progress bar over the steps. Bad input (a size, step count,
/// sampler, embeddings, image or noise that does not fit, a missing component) is one line naming
/// it, exit code 2, and no file; Ctrl+C cancels at the next step, exit code 130, no file.
/// </summary>
internal sealed class GenerateCommand : FileCommand<GenerateSettings>
{
    private const float DefaultGuidance = 3.5f;

    // diffusers' FluxImg2ImgPipeline's default.
    private const float DefaultStrength = 0.6f;

    // The image's sides: whole 2 x 2 patches of 8 x 8-pixel latents.
    private const int PixelMultiple = 16;

    private const int DefaultSide = 1024;

    // Issue 14's default for a transformer alone (a pipeline folder's model decides otherwise).
    private const int DefaultSteps = 28;

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

        int width = settings.Width ?? DefaultSide, height = settings.Height ?? DefaultSide;
        if (width < PixelMultiple || height < PixelMultiple)
        {
            return Fail($"the image is {width} x {height} pixels; width and height must be at least 16 (one 2 x 2 patch of latents)");
        }

        if (settings.Steps < 1)
        {
            return Fail($"--steps {settings.Steps} must be at least 1");
        }

        bool pipeline = FluxPipeline.IsPipelineFolder(settings.Model);
        if (!pipeline && PipelineOnlyOption(settings) is { } option)
        {
            return Fail($"{option} needs a diffusers FLUX pipeline folder (with model_index.json) as --model; {settings.Model} is not one");
        }

        if (settings.InitImage is null && (settings.Mask is not null || settings.Strength is not null))
        {
            return Fail($"{(settings.Mask is not null ? "--mask" : "--strength")} needs --init-image");
        }

        if (!settings.Output.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
        {
            return Fail($"--output {settings.Output}: generate writes a PNG; give the file a .png name");
        }

        if (settings.InitImage is not null && (settings.Width ?? settings.Height) is not null)
        {
            return Fail("--width and --height do not apply with --init-image: the picture has the init image's size");
        }

        NoteRounding("--width", width);
        NoteRounding("--height", height);

        IReadOnlyList<LoraMerge> loras = LoraArguments.Parse(settings.Loras);
        foreach (string? output in new[] { settings.Output, settings.LatentsOut, settings.ImageOut })
        {
            if (output is not null)
            {
                CheckOutput(
                    output, [settings.Model, settings.Transformer, settings.T5, settings.TokenIds, settings.Embeddings, settings.Negative,
                    settings.Noise, settings.InitImage, settings.Mask, .. loras.Select(l => l.Path)]);
            }
        }

        try
        {
            using var engine = new Engine(settings.NewEngineOptions());
            return pipeline ? RunPipeline(engine, settings, sampler, loras, cancellationToken) : RunTransformer(engine, settings, sampler, loras, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("svdquant: cancelled; no file written");
            return 130;
        }
    }

    // Issue 14's form: a transformer alone, given embeddings, the latent preview as the PNG.
    private static int RunTransformer(
        Engine engine, GenerateSettings settings, FluxSampler sampler, IReadOnlyList<LoraMerge> loras, CancellationToken cancellationToken)
    {
        using FluxTransformer model = FluxTransformer.Load(engine, settings.Model, new FluxLoadOptions { AttentionPrecision = settings.Attention });
        LoraArguments.AddTo(engine, model, loras);
        GenerationOptions options = Options(new GenerationOptions { Steps = DefaultSteps }, settings, sampler, model);
        using FluxGenerator generator = FluxGenerator.Create(model, options);
        var inputs = new GenerationInputs(TextConditioning.Load(settings.Embeddings!))
        {
            Negative = settings.Negative is null ? null : TextConditioning.Load(settings.Negative),
            Noise = settings.Noise is null ? null : ReadNoise(settings.Noise, generator.LatentShape),
        };
        PrintStart(settings, options);
        GenerationResult result = WithProgressBar(progress => generator.Generate(engine, inputs, progress, cancellationToken));

        WriteLatents(settings, result, generator.LatentShape);
        result.Preview(PreviewUpscale).SavePng(settings.Output);
        PrintDone(settings, result);
        return 0;
    }

    // The product: a pipeline folder, a prompt (or its ids or embeddings), the VAE's picture as the PNG.
    private static int RunPipeline(
        Engine engine, GenerateSettings settings, FluxSampler sampler, IReadOnlyList<LoraMerge> loras, CancellationToken cancellationToken)
    {
        var inputs = new FluxPipelineInputs(Prompt(settings))
        {
            NegativePrompt = settings.NegativePrompt is not null ? FluxPrompt.FromText(settings.NegativePrompt)
                : settings.Negative is not null ? FluxPrompt.FromEmbeddings(TextConditioning.Load(settings.Negative))
                : null,
            InitImage = settings.InitImage is null ? null : RgbaImage.LoadPng(settings.InitImage),
            Mask = settings.Mask is null ? null : RgbaImage.LoadPng(settings.Mask),
        };
        inputs.Validate();  // an image of the wrong size fails before the models load
        using FluxPipeline pipeline = FluxPipeline.Load(
            engine, settings.Model, new FluxPipelineOptions
            {
                TransformerFile = settings.Transformer,
                T5File = settings.T5,
                TransformerAttention = settings.Attention,
            });
        LoraArguments.AddTo(engine, pipeline.Transformer, loras);
        GenerationOptions options = Options(pipeline.DefaultOptions(), settings, sampler, pipeline.Transformer);
        if (inputs.InitImage is not null)
        {
            options.Strength = settings.Strength ?? DefaultStrength;
            options.Width = inputs.InitImage.Width;
            options.Height = inputs.InitImage.Height;
        }

        long[] latentShape = pipeline.LatentShape(options);
        inputs.Noise = settings.Noise is null ? null : ReadNoise(settings.Noise, latentShape);
        PrintStart(settings, options);
        FluxPipelineResult result = WithProgressBar(progress => pipeline.Generate(inputs, options, progress, cancellationToken));
        foreach (string warning in result.Warnings)
        {
            Console.Error.WriteLine($"svdquant: warning: {warning}");
        }

        WriteLatents(settings, result.Latents, latentShape);
        if (settings.ImageOut is not null)
        {
            using var writer = new SafeTensorsWriter();
            writer.AddTensor("image", [1, 3, result.Image.Height, result.Image.Width], result.Decoded);
            writer.Save(settings.ImageOut);
        }

        result.Image.SavePng(settings.Output);
        PrintDone(settings, result.Latents);
        return 0;
    }

    private static FluxPrompt Prompt(GenerateSettings settings) =>
        settings.Prompt is not null ? FluxPrompt.FromText(settings.Prompt)
        : settings.TokenIds is not null ? TokenIdsFile.Read(settings.TokenIds).ToPrompt(settings.TokenIds)
        : FluxPrompt.FromEmbeddings(TextConditioning.Load(settings.Embeddings!));

    // The first option given that only a pipeline folder can serve.
    private static string? PipelineOnlyOption(GenerateSettings s) =>
        s.Prompt is not null ? "--prompt"
        : s.TokenIds is not null ? "--token-ids"
        : s.Transformer is not null ? "--transformer"
        : s.T5 is not null ? "--t5"
        : s.NegativePrompt is not null ? "--negative-prompt"
        : s.InitImage is not null ? "--init-image"
        : s.Mask is not null ? "--mask"
        : s.ImageOut is not null ? "--image-out"
        : null;

    // The flags over the defaults (the folder's, or issue 14's for a transformer alone).
    private static GenerationOptions Options(GenerationOptions defaults, GenerateSettings settings, FluxSampler sampler, FluxTransformer model)
    {
        defaults.Width = settings.Width ?? DefaultSide;
        defaults.Height = settings.Height ?? DefaultSide;
        defaults.Steps = settings.Steps ?? defaults.Steps;
        defaults.Guidance = settings.Guidance ?? DefaultGuidance;
        defaults.TrueCfgScale = settings.TrueCfg;
        defaults.Sampler = sampler;
        defaults.Seed = settings.Seed;
        defaults.CacheThreshold = settings.Cache;
        if (settings.Guidance is not null && !model.Info.GuidanceEmbeds)
        {
            Console.Error.WriteLine("svdquant: note: --guidance ignored: the model has no guidance embedding");
        }

        return defaults;
    }

    // The engine rounds a side down to whole latent patches; say so rather than change it silently.
    private static void NoteRounding(string option, int pixels)
    {
        if (pixels % PixelMultiple != 0)
        {
            Console.Error.WriteLine($"svdquant: note: {option} {pixels} is rounded down to {pixels / PixelMultiple * PixelMultiple}, a multiple of {PixelMultiple}");
        }
    }

    private static void PrintStart(GenerateSettings settings, GenerationOptions options) =>
        AnsiConsole.MarkupLineInterpolated(
            $"FLUX generate: {options.Width / PixelMultiple * PixelMultiple} x {options.Height / PixelMultiple * PixelMultiple}, {options.Steps} steps, {settings.Sampler}, seed {(settings.Noise is null ? settings.Seed.ToString() : settings.Noise)}");

    private static void PrintDone(GenerateSettings settings, GenerationResult result) =>
        AnsiConsole.MarkupLineInterpolated(
            $"{settings.Output}: {result.LatentWidth * 8} x {result.LatentHeight * 8}, {result.Steps} steps, {result.Evaluations} evaluations ({result.CachedEvaluations} cached) in {result.Seconds:0.00} s{(settings.LatentsOut is null ? "" : $"; latents -> {settings.LatentsOut}")}{(settings.ImageOut is null ? "" : $"; image -> {settings.ImageOut}")}");

    private static void WriteLatents(GenerateSettings settings, GenerationResult result, long[] latentShape)
    {
        if (settings.LatentsOut is not null)
        {
            using var writer = new SafeTensorsWriter();
            writer.AddTensor("latents", latentShape, result.Latents);
            writer.Save(settings.LatentsOut);
        }
    }

    private static T WithProgressBar<T>(Func<IProgress<GenerationProgress>, T> run)
    {
        T? result = default;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(progress =>
            {
                ProgressTask task = progress.AddTask("step 0", maxValue: 1);
                result = run(new Reporter(step =>
                {
                    task.MaxValue = step.Total;
                    task.Value = step.Step;
                    task.Description = $"step {step.Step}/{step.Total}, {step.SecondsPerStep:0.00} s/step, ETA {step.Remaining:hh\\:mm\\:ss}";
                }));
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
