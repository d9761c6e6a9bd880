using System;
using System.Threading;
using SvdQuant.Generation;
using SvdQuant.Models;

namespace SvdQuant.Samples.Threading;

/// <summary>A loaded model that turns a prompt into a picture; used only on the worker thread.</summary>
internal interface IImageSource : IDisposable
{
    RgbaImage Generate(Engine engine, FluxPrompt prompt, GenerationOptions? options, IProgress<GenerationProgress> progress, CancellationToken cancel);
}

/// <summary>A diffusers FLUX folder: text encoders, transformer, VAE (<see cref="FluxPipeline"/>).</summary>
internal sealed class PipelineSource : IImageSource
{
    private readonly FluxPipeline _pipeline;

    public PipelineSource(Engine engine, string folder, FluxPipelineOptions? options) => _pipeline = FluxPipeline.Load(engine, folder, options);

    public RgbaImage Generate(Engine engine, FluxPrompt prompt, GenerationOptions? options, IProgress<GenerationProgress> progress, CancellationToken cancel) =>
        _pipeline.Generate(new FluxPipelineInputs(prompt), options, progress, cancel).Image;

    public void Dispose() => _pipeline.Dispose();
}

/// <summary>
/// A FLUX transformer alone: prompts are given as text-encoder outputs and the picture is the latents'
/// preview at the image's size (no VAE), e.g. for a live preview or a model without its pipeline folder.
/// </summary>
internal sealed class TransformerSource : IImageSource
{
    public TransformerSource(Engine engine, string model) => Transformer = FluxTransformer.Load(engine, model);

    public FluxTransformer Transformer { get; }

    public RgbaImage Generate(Engine engine, FluxPrompt prompt, GenerationOptions? options, IProgress<GenerationProgress> progress, CancellationToken cancel)
    {
        TextConditioning embeddings = prompt.Embeddings
            ?? throw new ArgumentException("a transformer without its pipeline folder needs the prompt as embeddings (FluxPrompt.FromEmbeddings)", nameof(prompt));
        using FluxGenerator generator = FluxGenerator.Create(Transformer, options);
        GenerationResult result = generator.Generate(engine, new GenerationInputs(embeddings), progress, cancel);
        return result.Preview(upscale: 8);
    }

    public void Dispose() => Transformer.Dispose();
}
