using System;
using System.Threading;
using System.Threading.Tasks;
using SvdQuant.Models;
using SvdQuant.Native;

namespace SvdQuant.Generation;

/// <summary>
/// Makes latents with a loaded FLUX transformer as diffusers' FluxPipeline does, from given
/// text-encoder outputs: seeded (or given) noise, the flow-matching schedule, a sampler, embedded
/// and true classifier-free guidance, the first-block cache, image-to-image and inpainting. The
/// options are checked once here; the generator may then run many times, one run at a time.
/// It keeps the model's native object alive until it is disposed.
/// </summary>
public sealed class FluxGenerator : IDisposable
{
    private readonly SvdqFluxGeneratorHandle _handle;

    private FluxGenerator(SvdqFluxGeneratorHandle handle, long[] latentShape)
    {
        _handle = handle;
        LatentShape = latentShape;
    }

    /// <summary>The packed latents' shape [1, S_img, in_channels] for the options' (rounded) size: of the noise, init latents, mask and result.</summary>
    public long[] LatentShape { get; }

    /// <summary>Checks <paramref name="options"/> against <paramref name="model"/> and reads the model's scheduler config.</summary>
    /// <param name="model">The transformer; it may be disposed before the generator (its native object lives on until both are).</param>
    /// <param name="options">Null for the defaults (1024 x 1024, 28 Euler steps, guidance 3.5, seed 0).</param>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.InvalidArgument"/> naming a bad size, step count, strength, shift, eta, cache threshold or sigma list.</exception>
    public static unsafe FluxGenerator Create(FluxTransformer model, GenerationOptions? options = null)
    {
        if (model is null)
        {
            throw new ArgumentNullException(nameof(model));
        }

        GenerationOptions o = options ?? new GenerationOptions();
        if (o.Sigmas is { Length: 0 })
        {
            throw new SvdQuantException(StatusCode.InvalidArgument, "Sigmas is empty: give at least one sigma, or null for the model's schedule");
        }

        svdq_generation_options native = default;
        NativeStatus.Check(NativeMethods.svdq_generation_options_init(&native));
        native.width = o.Width;
        native.height = o.Height;
        native.steps = o.Steps;
        native.seed = o.Seed;
        native.guidance = o.Guidance;
        native.true_cfg = o.TrueCfgScale;
        native.cache_threshold = o.CacheThreshold;
        native.strength = o.Strength;
        native.shift = o.Shift ?? 0f;
        native.eta = o.Eta;
        native.sigma_count = o.Sigmas?.Length ?? 0;

        SvdqFluxHandle modelHandle = model.Handle;
        SvdqFluxGeneratorHandle generator;
        fixed (byte* sampler = NativeText.ToUtf8(SamplerName(o.Sampler)))
        fixed (byte* schedulerConfig = o.SchedulerConfig is null ? null : NativeText.ToUtf8(o.SchedulerConfig))
        fixed (float* sigmas = o.Sigmas)
        {
            native.sampler = sampler;
            native.scheduler_config = schedulerConfig;
            native.sigmas = sigmas;
            NativeStatus.Check(NativeMethods.svdq_flux_generator_create(modelHandle, &native, out generator));
        }

        return OwnedHandle.Adopt(generator, handle =>
        {
            handle.HoldModel(modelHandle);
            return new FluxGenerator(handle, ReadLatentShape(handle));
        });
    }

    /// <summary>Runs the sampler and returns the final latents.</summary>
    /// <param name="engine">The engine to run on.</param>
    /// <param name="inputs">The conditioning and optional noise, init latents and mask.</param>
    /// <param name="progress">Told after every step, on the generating thread; may be null. An exception it throws stops the run and is rethrown.</param>
    /// <param name="cancellationToken">Checked after every step.</param>
    /// <exception cref="SvdQuantException">An input of the wrong shape, named (e.g. <c>encoder_hidden_states</c> of another width than the model's).</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled; the generator and model can run again.</exception>
    public unsafe GenerationResult Generate(
        Engine engine, GenerationInputs inputs, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        if (inputs is null)
        {
            throw new ArgumentNullException(nameof(inputs));
        }

        cancellationToken.ThrowIfCancellationRequested();
        SvdqFluxGeneratorHandle generator = _handle.NotDisposed(nameof(FluxGenerator));
        long latentCount = LatentShape[0] * LatentShape[1] * LatentShape[2];
        RequireLatentSized(inputs.Noise, "noise", latentCount);
        RequireLatentSized(inputs.InitLatents, "init_latents", latentCount);
        RequireLatentSized(inputs.Mask, "mask", latentCount);
        TextConditioning prompt = inputs.Prompt;
        TextConditioning? negative = inputs.Negative;
        var latents = new float[latentCount];
        svdq_generation_report report = default;
        report.struct_size = (uint)sizeof(svdq_generation_report);
        using (var session = new NativeGenerationProgress(progress, cancellationToken))
        {
            fixed (float* states = prompt.EncoderHiddenStates)
            fixed (float* pooled = prompt.PooledProjections)
            fixed (float* negativeStates = negative?.EncoderHiddenStates)
            fixed (float* negativePooled = negative?.PooledProjections)
            fixed (float* noise = inputs.Noise)
            fixed (float* initLatents = inputs.InitLatents)
            fixed (float* mask = inputs.Mask)
            fixed (float* output = latents)
            {
                using SvdqTensorHandle statesTensor = WrapStates(states, prompt);
                using SvdqTensorHandle pooledTensor = WrapPooled(pooled, prompt);
                using SvdqTensorHandle? negativeStatesTensor = negative is null ? null : WrapStates(negativeStates, negative);
                using SvdqTensorHandle? negativePooledTensor = negative is null ? null : WrapPooled(negativePooled, negative);
                using SvdqTensorHandle? noiseTensor = WrapLatents(noise, inputs.Noise);
                using SvdqTensorHandle? initTensor = WrapLatents(initLatents, inputs.InitLatents);
                using SvdqTensorHandle? maskTensor = WrapLatents(mask, inputs.Mask);
                using SvdqTensorHandle outputTensor = NativeTensor.WrapF32(output, latents.Length, LatentShape);
                var native = new svdq_generation_inputs
                {
                    struct_size = (uint)sizeof(svdq_generation_inputs),
                    encoder_hidden_states = statesTensor.DangerousGetHandle(),
                    pooled_projections = pooledTensor.DangerousGetHandle(),
                    negative_encoder_hidden_states = NativeTensor.PointerOf(negativeStatesTensor),
                    negative_pooled_projections = NativeTensor.PointerOf(negativePooledTensor),
                    noise = NativeTensor.PointerOf(noiseTensor),
                    init_latents = NativeTensor.PointerOf(initTensor),
                    mask = NativeTensor.PointerOf(maskTensor),
                };
                using EngineCall call = engine.Enter();
                // Checked before the tensors are destroyed: each native call clears the thread's error message.
                session.Check(NativeMethods.svdq_flux_generator_run(
                    call.Context, generator, &native, outputTensor, NativeGenerationProgress.CallbackPointer, session.UserData, &report));
            }
        }

        return new GenerationResult(
            latents, report.latent_channels, report.latent_height, report.latent_width, report.steps, report.evaluations, report.cached,
            report.guidance_ignored != 0, report.seconds);
    }

    /// <summary><see cref="Generate"/> on the thread pool.</summary>
    /// <inheritdoc cref="Generate" path="/param"/>
    /// <inheritdoc cref="Generate" path="/exception"/>
    public Task<GenerationResult> GenerateAsync(
        Engine engine, GenerationInputs inputs, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => Generate(engine, inputs, progress, cancellationToken), cancellationToken);

    /// <summary>Frees the native generator (and its reference on the model). Calling it again does nothing.</summary>
    public void Dispose() => _handle.Dispose();

    private static string SamplerName(FluxSampler sampler) => sampler switch
    {
        FluxSampler.Euler => "euler",
        FluxSampler.Heun => "heun",
        FluxSampler.DpmPlusPlus2M => "dpmpp2m",
        FluxSampler.EulerAncestral => "euler_a",
        _ => throw new SvdQuantException(StatusCode.InvalidArgument, $"sampler {(int)sampler} is not a FluxSampler"),
    };

    private static unsafe long[] ReadLatentShape(SvdqFluxGeneratorHandle handle)
    {
        var shape = new long[3];
        fixed (long* s = shape)
        {
            NativeStatus.Check(NativeMethods.svdq_flux_generator_get_latent_shape(handle, s));
        }

        return shape;
    }

    // The engine names a wrong shape; a wrong length would only show as a tensor size error, so it is named here.
    private static void RequireLatentSized(float[]? values, string name, long count)
    {
        if (values is not null && values.Length != count)
        {
            throw new SvdQuantException(StatusCode.ShapeMismatch, $"{name} has {values.Length} values, the latent shape needs {count}");
        }
    }

    private static unsafe SvdqTensorHandle WrapStates(float* data, TextConditioning c) =>
        NativeTensor.WrapF32(data, c.EncoderHiddenStates.Length, [1, c.TextTokens, c.TextWidth]);

    private static unsafe SvdqTensorHandle WrapPooled(float* data, TextConditioning c) =>
        NativeTensor.WrapF32(data, c.PooledProjections.Length, [1, c.PooledProjections.Length]);

    private unsafe SvdqTensorHandle? WrapLatents(float* data, float[]? values) =>
        values is null ? null : NativeTensor.WrapF32(data, values.Length, LatentShape);
}
