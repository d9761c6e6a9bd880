using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using SvdQuant.Models;

namespace SvdQuant.Generation;

/// <summary>
/// A prompt to a picture with a diffusers FLUX folder, as FluxPipeline (and its image-to-image and
/// inpainting variants) runs it: tokenizers and text encoders, the transformer through a sampler,
/// the VAE. The transformer and T5 may be replaced by 4-bit files. Components load once, on first
/// use, and serve every later run: tokenizers only for text prompts, the encoders not at all for
/// given embeddings, the VAE's encoder path only for image-to-image. One run at a time.
/// </summary>
public sealed class FluxPipeline : IDisposable
{
    private const int DevSteps = 28, SchnellSteps = 4;

    private readonly Engine _engine;
    private readonly FluxPipelineFolder _folder;
    private readonly FluxPipelineOptions _options;
    private readonly FluxTransformer _transformer;
    private TextEncoders? _textEncoders;
    private AutoencoderKL? _vae;

    private FluxPipeline(Engine engine, FluxPipelineFolder folder, FluxPipelineOptions options, FluxTransformer transformer)
    {
        _engine = engine;
        _folder = folder;
        _options = options;
        _transformer = transformer;
    }

    /// <summary>The transformer (its info tells the model's widths and whether it embeds guidance).</summary>
    public FluxTransformer Transformer => _transformer;

    /// <summary>The folder's T5 token count: the options', else 512 for FLUX.1-dev-style models and 256 for schnell-style ones.</summary>
    public int T5MaxLength => _options.T5MaxLength ?? (_transformer.Info.GuidanceEmbeds ? TextEncoders.DevT5MaxLength : TextEncoders.SchnellT5MaxLength);

    /// <summary>
    /// Opens a diffusers FLUX folder and loads its transformer (or the options' file instead); the
    /// other components load when a run first needs them.
    /// </summary>
    /// <param name="engine">The engine every run uses; it must outlive the pipeline.</param>
    /// <param name="folder">The pipeline folder (model_index.json, scheduler/, text_encoder/, ...).</param>
    /// <param name="options">Replacement files and precisions; null for the folder as it is.</param>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.Io"/> naming a missing folder or component, or the transformer's own load errors.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A T5 length outside [1, 512].</exception>
    public static FluxPipeline Load(Engine engine, string folder, FluxPipelineOptions? options = null)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        FluxPipelineFolder pipeline = FluxPipelineFolder.Open(folder ?? throw new ArgumentNullException(nameof(folder)));
        FluxPipelineOptions o = options ?? new FluxPipelineOptions();
        TextEncoders.CheckT5MaxLength(o.T5MaxLength, nameof(options));
        string transformerPath = o.TransformerFile ?? pipeline.Component("transformer", "every run");
        FluxTransformer transformer = FluxTransformer.Load(engine, transformerPath, new FluxLoadOptions
        {
            BlockScheme = o.TransformerScheme,
            AttentionPrecision = o.TransformerAttention,
        });
        return new FluxPipeline(engine, pipeline, o, transformer);
    }

    /// <summary>Whether <paramref name="path"/> is a diffusers pipeline folder (it has model_index.json), not a transformer alone.</summary>
    public static bool IsPipelineFolder(string path) => FluxPipelineFolder.IsPipelineFolder(path ?? throw new ArgumentNullException(nameof(path)));

    /// <summary>The packed latents' shape [1, S_img, in_channels] a run with these options makes (of its noise, for one).</summary>
    /// <exception cref="SvdQuantException">Options the model refuses, named.</exception>
    public long[] LatentShape(GenerationOptions options)
    {
        using FluxGenerator generator = FluxGenerator.Create(_transformer, options ?? throw new ArgumentNullException(nameof(options)));
        return generator.LatentShape;
    }

    /// <summary>
    /// Options with the folder's defaults: FLUX.1-dev-style models (with a guidance embedding) 28
    /// steps at guidance 3.5, schnell-style ones 4 steps; 1024 x 1024; the folder's scheduler config.
    /// </summary>
    public GenerationOptions DefaultOptions() => new()
    {
        Steps = _transformer.Info.GuidanceEmbeds ? DevSteps : SchnellSteps,
        SchedulerConfig = _folder.SchedulerConfig,
    };

    /// <summary>Text-encoder outputs for a prompt (encoded by the folder's encoders unless it already is).</summary>
    /// <exception cref="SvdQuantException">A missing encoder or tokenizer component, ids outside a vocabulary, named.</exception>
    public TextConditioning Encode(FluxPrompt prompt)
    {
        if (prompt is null)
        {
            throw new ArgumentNullException(nameof(prompt));
        }

        if (prompt.Embeddings is not null)
        {
            return prompt.Embeddings;
        }

        TextEncoders encoders = _textEncoders ??= TextEncoders.Load(_engine, _folder.Root, new TextEncoderOptions
        {
            T5Precision = _options.T5Precision,
            T5File = _options.T5File,
            T5MaxLength = T5MaxLength,
        });
        return prompt.Text is not null ? encoders.Encode(prompt.Text) : encoders.Encode(prompt.ClipIds!, prompt.T5Ids!);
    }

    /// <summary>Makes a picture of <paramref name="prompt"/>.</summary>
    /// <inheritdoc cref="Generate(FluxPipelineInputs, GenerationOptions?, IProgress{GenerationProgress}?, CancellationToken)"/>
    public FluxPipelineResult Generate(
        string prompt, GenerationOptions? options = null, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Generate(new FluxPipelineInputs(FluxPrompt.FromText(prompt)), options, progress, cancellationToken);

    /// <summary>Makes a picture: encodes the prompts, samples the latents, decodes them with the VAE.</summary>
    /// <param name="inputs">The prompt, and optionally a negative prompt, an init image, a mask and noise.</param>
    /// <param name="options">Size, steps, guidance, sampler, seed, strength, cache; null for <see cref="DefaultOptions"/>.
    /// With no scheduler config of their own the folder's is used.</param>
    /// <param name="progress">Told after every sampling step, on the generating thread; may be null.</param>
    /// <param name="cancellationToken">Checked after every step and between the stages.</param>
    /// <exception cref="SvdQuantException">Bad input named: a missing component, an init image whose sides are not
    /// multiples of 16, a mask of another size, conditioning of the wrong width.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled; the pipeline can run again.</exception>
    public FluxPipelineResult Generate(
        FluxPipelineInputs inputs, GenerationOptions? options = null, IProgress<GenerationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        if (inputs is null)
        {
            throw new ArgumentNullException(nameof(inputs));
        }

        inputs.Validate();
        GenerationOptions o = (options ?? DefaultOptions()).Copy();
        o.SchedulerConfig ??= _folder.SchedulerConfig;
        if (inputs.InitImage is { } init)
        {
            o.Width = init.Width;
            o.Height = init.Height;
        }

        var warnings = new List<string>();
        var conditioning = new GenerationInputs(Encode(inputs.Prompt, "prompt", warnings))
        {
            Negative = inputs.NegativePrompt is null ? null : Encode(inputs.NegativePrompt, "negative prompt", warnings),
            Noise = inputs.Noise,
        };
        cancellationToken.ThrowIfCancellationRequested();
        using FluxGenerator generator = FluxGenerator.Create(_transformer, o);
        if (inputs.InitImage is not null)
        {
            // FluxImg2ImgPipeline's retrieve_latents: a sample of the posterior, from the run's seed.
            conditioning.InitLatents = Vae.EncodeImage(_engine, inputs.InitImage, sample: true, seed: o.Seed);
            if (inputs.Mask is not null)
            {
                conditioning.Mask = InpaintingMask.ToPackedLatents(
                    inputs.Mask, inputs.InitImage.Width, inputs.InitImage.Height, _transformer.Info.InChannels / 4);
            }
        }

        GenerationResult latents = generator.Generate(_engine, conditioning, progress, cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();
        float[] decoded = Vae.DecodeLatents(_engine, latents);
        RgbaImage image = RgbaImage.FromVaeImage(decoded, latents.LatentWidth * Vae.Info.Downscale, latents.LatentHeight * Vae.Info.Downscale);
        return new FluxPipelineResult(image, decoded, latents, warnings);
    }

    // Encode, adding the tokenizers' warnings (truncation) for a prompt given as text, named by `what`.
    private TextConditioning Encode(FluxPrompt prompt, string what, List<string> warnings)
    {
        TextConditioning conditioning = Encode(prompt);
        if (prompt.Text is not null)
        {
            warnings.AddRange(_textEncoders!.Warnings.Select(w => $"{what}: {w}"));
        }

        return conditioning;
    }

    /// <summary><see cref="Generate(FluxPipelineInputs, GenerationOptions?, IProgress{GenerationProgress}?, CancellationToken)"/> on the thread pool.</summary>
    public Task<FluxPipelineResult> GenerateAsync(
        FluxPipelineInputs inputs, GenerationOptions? options = null, IProgress<GenerationProgress>? progress = null,
        CancellationToken cancellationToken = default) =>
        Task.Run(() => Generate(inputs, options, progress, cancellationToken), cancellationToken);

    /// <summary>Frees every loaded component. Calling it again does nothing.</summary>
    public void Dispose()
    {
        _vae?.Dispose();
        _textEncoders?.Dispose();
        _transformer.Dispose();
    }

    private AutoencoderKL Vae => _vae ??= AutoencoderKL.Load(_engine, _folder.Component("vae", "decoding the latents"));
}
