using System;
using SvdQuant.Native;

namespace SvdQuant.Models;

/// <summary>
/// diffusers' <c>FluxTransformer2DModel</c> (FLUX.1-dev, -schnell or any smaller config of the
/// same architecture) on the native engine.
/// </summary>
public sealed class FluxTransformer : IDisposable
{
    private readonly SvdqFluxHandle _handle;

    private FluxTransformer(SvdqFluxHandle handle, FluxInfo info)
    {
        _handle = handle;
        Info = info;
        Loras = new FluxLoraCollection(this);
    }

    /// <summary>Configuration, block scheme and format, parameter count and memory.</summary>
    public FluxInfo Info { get; }

    /// <summary>The LoRAs on the model: add, reweight and remove them at run time without reloading.</summary>
    public FluxLoraCollection Loras { get; }

    /// <summary>The native model, for objects that refer to it (a generator); throws once disposed.</summary>
    internal SvdqFluxHandle Handle => _handle.NotDisposed(nameof(FluxTransformer));

    /// <summary>
    /// Loads a diffusers folder (config.json and one or more safetensors shards, BF16/F16/F32; given a
    /// whole pipeline folder, its transformer/) or a
    /// quantized single-file checkpoint: a Nunchaku SVDQ file (INT4 or NVFP4, either key style) or
    /// one <see cref="Quantization.Quantizer.QuantizeFlux"/> wrote, whose 4-bit layers run as stored.
    /// </summary>
    /// <param name="engine">The engine that prepares the weights.</param>
    /// <param name="path">The model folder or the checkpoint file.</param>
    /// <param name="options">Null for the defaults (float blocks from a diffusers folder).</param>
    /// <exception cref="SvdQuantException">A missing file or tensor, a bad config, or a wrong shape, named.</exception>
    public static unsafe FluxTransformer Load(Engine engine, string path, FluxLoadOptions? options = null)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        if (path is null)
        {
            throw new ArgumentNullException(nameof(path));
        }

        options ??= new FluxLoadOptions();
        var native = new svdq_flux_load_options
        {
            struct_size = (uint)sizeof(svdq_flux_load_options),
            scheme = (int)options.BlockScheme,
            attention_precision = (int)options.AttentionPrecision,
        };
        SvdqFluxHandle model;
        byte[] utf8Path = NativeText.ToUtf8(path);
        fixed (byte* pathData = utf8Path)
        {
            using EngineCall call = engine.Enter();
            NativeStatus.Check(NativeMethods.svdq_flux_load(call.Context, pathData, &native, out model));
            model.HoldContext(call.Context);
        }

        return OwnedHandle.Adopt(model, handle => new FluxTransformer(handle, ReadInfo(handle)));
    }

    /// <summary>Runs the transformer once; returns the prediction [B, S_img, out_channels x patch^2].</summary>
    /// <exception cref="SvdQuantException">An input of the wrong shape, named, or a missing guidance.</exception>
    public unsafe float[] Forward(Engine engine, FluxInputs inputs)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        if (inputs is null)
        {
            throw new ArgumentNullException(nameof(inputs));
        }

        long b = inputs.Batch, img = inputs.ImageTokens, txt = inputs.TextTokens;
        var output = new float[checked(b * img * Info.OutputTokenWidth)];
        fixed (float* hidden = inputs.HiddenStates)
        fixed (float* context = inputs.EncoderHiddenStates)
        fixed (float* pooled = inputs.PooledProjections)
        fixed (float* timestep = inputs.Timestep)
        fixed (float* guidance = inputs.Guidance)
        fixed (float* imageIds = inputs.ImageIds)
        fixed (float* textIds = inputs.TextIds)
        fixed (float* outputData = output)
        {
            using SvdqTensorHandle hiddenTensor = NativeTensor.WrapF32(hidden, inputs.HiddenStates.Length, inputs.ShapeOf("hidden_states", [b, img, inputs.HiddenStates.Length / Math.Max(1, b * img)]));
            using SvdqTensorHandle contextTensor = NativeTensor.WrapF32(context, inputs.EncoderHiddenStates.Length, inputs.ShapeOf("encoder_hidden_states", [b, txt, inputs.EncoderHiddenStates.Length / Math.Max(1, b * txt)]));
            using SvdqTensorHandle pooledTensor = NativeTensor.WrapF32(pooled, inputs.PooledProjections.Length, inputs.ShapeOf("pooled_projections", [b, inputs.PooledProjections.Length / Math.Max(1, b)]));
            using SvdqTensorHandle timestepTensor = NativeTensor.WrapF32(timestep, inputs.Timestep.Length, inputs.ShapeOf("timestep", [inputs.Timestep.Length]));
            using SvdqTensorHandle? guidanceTensor = inputs.Guidance is null ? null
                : NativeTensor.WrapF32(guidance, inputs.Guidance.Length, inputs.ShapeOf("guidance", [inputs.Guidance.Length]));
            using SvdqTensorHandle imageIdsTensor = NativeTensor.WrapF32(imageIds, inputs.ImageIds.Length, inputs.ShapeOf("img_ids", [img, inputs.ImageIds.Length / Math.Max(1, img)]));
            using SvdqTensorHandle textIdsTensor = NativeTensor.WrapF32(textIds, inputs.TextIds.Length, inputs.ShapeOf("txt_ids", [txt, inputs.TextIds.Length / Math.Max(1, txt)]));
            using SvdqTensorHandle outputTensor = NativeTensor.WrapF32(outputData, output.Length, [b, img, Info.OutputTokenWidth]);
            var native = new svdq_flux_inputs
            {
                struct_size = (uint)sizeof(svdq_flux_inputs),
                hidden_states = hiddenTensor.DangerousGetHandle(),
                encoder_hidden_states = contextTensor.DangerousGetHandle(),
                pooled_projections = pooledTensor.DangerousGetHandle(),
                timestep = timestepTensor.DangerousGetHandle(),
                guidance = NativeTensor.PointerOf(guidanceTensor),
                img_ids = imageIdsTensor.DangerousGetHandle(),
                txt_ids = textIdsTensor.DangerousGetHandle(),
            };
            SvdqFluxHandle model = _handle.NotDisposed(nameof(FluxTransformer));
            using EngineCall call = engine.Enter();
            NativeStatus.Check(NativeMethods.svdq_flux_forward(call.Context, model, &native, outputTensor));
        }

        return output;
    }

    /// <summary>Frees the native model. Calling it again does nothing.</summary>
    public void Dispose() => _handle.Dispose();

    private static unsafe FluxInfo ReadInfo(SvdqFluxHandle handle)
    {
        svdq_flux_info info = default;
        info.struct_size = (uint)sizeof(svdq_flux_info);
        NativeStatus.Check(NativeMethods.svdq_flux_get_info(handle, &info));
        return new FluxInfo(
            (LinearScheme)info.scheme, (NumberFormat)info.format, info.num_layers, info.num_single_layers, info.num_attention_heads,
            info.attention_head_dim, info.in_channels, info.out_channels, info.patch_size, info.joint_attention_dim,
            info.pooled_projection_dim, info.guidance_embeds != 0, info.parameter_count, checked((long)info.weight_bytes),
            (AttentionPrecision)info.attention_precision);
    }
}
