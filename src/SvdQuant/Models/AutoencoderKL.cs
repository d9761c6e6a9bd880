using System;
using SvdQuant.Generation;
using SvdQuant.Native;

namespace SvdQuant.Models;

/// <summary>
/// diffusers' <c>AutoencoderKL</c>, the VAE of a diffusion pipeline (FLUX.1's: 16 latent channels), on
/// the native engine. <see cref="Decode"/> and <see cref="Encode"/> are raw, as vae.decode and
/// vae.encode(...).latent_dist: images and latents are float arrays in NCHW order, no scaling.
/// <c>DecodeLatents</c>, <see cref="DecodeToImage"/> and <c>EncodeImage</c> add what FluxPipeline does around
/// them on the generator's packed latents.
/// </summary>
public sealed class AutoencoderKL : IDisposable
{
    private readonly SvdqVaeHandle _handle;

    private AutoencoderKL(SvdqVaeHandle handle, AutoencoderKLInfo info)
    {
        _handle = handle;
        Info = info;
    }

    /// <summary>Channels, downscale, the pipeline's scaling and the parameter count.</summary>
    public AutoencoderKLInfo Info { get; }

    /// <summary>
    /// Loads a VAE folder (config.json and diffusion_pytorch_model.safetensors, F32, F16 or BF16) or a
    /// pipeline folder with vae/ (a FLUX.1 folder as published). Every tensor is checked against the config.
    /// </summary>
    /// <exception cref="SvdQuantException">A missing file or tensor, a bad config, a wrong shape or an unused tensor, named.</exception>
    public static unsafe AutoencoderKL Load(Engine engine, string path)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        if (path is null)
        {
            throw new ArgumentNullException(nameof(path));
        }

        SvdqVaeHandle vae;
        fixed (byte* pathData = NativeText.ToUtf8(path))
        {
            using EngineCall call = engine.Enter();
            NativeStatus.Check(NativeMethods.svdq_vae_load(call.Context, pathData, out vae));
            vae.HoldContext(call.Context);
        }

        return OwnedHandle.Adopt(vae, handle => new AutoencoderKL(handle, ReadInfo(handle)));
    }

    /// <summary>The image shape [B, out_channels, downscale h, downscale w] that latents [B, C, h, w] decode to.</summary>
    public long[] DecodedShape(ReadOnlySpan<long> latentShape)
    {
        RequireRank4(latentShape, "latents");
        long[] shape = latentShape.ToArray(); // not the span's indexer (see Pin)
        return [shape[0], Info.OutChannels, shape[2] * Info.Downscale, shape[3] * Info.Downscale];
    }

    /// <summary>The latent shape [B, latent_channels, H / downscale, W / downscale] of an image [B, C, H, W].</summary>
    public long[] EncodedShape(ReadOnlySpan<long> imageShape)
    {
        RequireRank4(imageShape, "image");
        long[] shape = imageShape.ToArray(); // not the span's indexer (see Pin)
        return [shape[0], Info.LatentChannels, shape[2] / Info.Downscale, shape[3] / Info.Downscale];
    }

    /// <summary>vae.decode(latents): latents [B, latent_channels, h, w] to an image of <see cref="DecodedShape"/>.</summary>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.ShapeMismatch"/> naming channels that do not match the
    /// VAE or an array that does not hold the shape; <see cref="StatusCode.NonFinite"/> for NaN or infinity.</exception>
    public unsafe float[] Decode(Engine engine, float[] latents, ReadOnlySpan<long> shape, AutoencoderKLOptions? options = null)
    {
        RequireEngine(engine);
        RequireHolds(latents, shape, "latents");
        long[] outShape = DecodedShape(shape);
        var image = new float[Count(outShape)];
        svdq_vae_options native = Native(options);
        fixed (float* input = latents)
        fixed (float* output = image)
        {
            using SvdqTensorHandle inputTensor = NativeTensor.WrapF32(input, latents.Length, shape);
            using SvdqTensorHandle outputTensor = NativeTensor.WrapF32(output, image.Length, outShape);
            SvdqVaeHandle vae = _handle.NotDisposed(nameof(AutoencoderKL));
            using EngineCall call = engine.Enter();
            NativeStatus.Check(NativeMethods.svdq_vae_decode(call.Context, vae, &native, inputTensor, outputTensor));
        }

        return image;
    }

    /// <summary>
    /// vae.encode(image).latent_dist: an image [B, in_channels, H, W] (values in [-1, 1]; sides multiples of the
    /// downscale) to the mean and the log-variance (clamped to [-30, 20]) of <see cref="EncodedShape"/>.
    /// </summary>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.ShapeMismatch"/> naming a side that is not a multiple of
    /// the downscale or channels that do not match; <see cref="StatusCode.NonFinite"/> for NaN or infinity.</exception>
    public unsafe (float[] Mean, float[] LogVar) Encode(Engine engine, float[] image, ReadOnlySpan<long> shape, AutoencoderKLOptions? options = null)
    {
        RequireEngine(engine);
        RequireHolds(image, shape, "image");
        long[] outShape = EncodedShape(shape);
        var mean = new float[Count(outShape)];
        var logVar = new float[mean.Length];
        svdq_vae_options native = Native(options);
        fixed (float* input = image)
        fixed (float* meanData = mean)
        fixed (float* logVarData = logVar)
        {
            using SvdqTensorHandle inputTensor = NativeTensor.WrapF32(input, image.Length, shape);
            using SvdqTensorHandle meanTensor = NativeTensor.WrapF32(meanData, mean.Length, outShape);
            using SvdqTensorHandle logVarTensor = NativeTensor.WrapF32(logVarData, logVar.Length, outShape);
            SvdqVaeHandle vae = _handle.NotDisposed(nameof(AutoencoderKL));
            using EngineCall call = engine.Enter();
            NativeStatus.Check(NativeMethods.svdq_vae_encode(call.Context, vae, &native, inputTensor, meanTensor, logVarTensor));
        }

        return (mean, logVar);
    }

    /// <summary>
    /// FluxPipeline's decode of a generation: its packed latents unpacked, latents / scaling_factor + shift_factor,
    /// vae.decode. Returns the float image [1, 3, H, W] (about [-1, 1]) of H = 8 x <see cref="GenerationResult.LatentHeight"/>
    /// and W = 8 x <see cref="GenerationResult.LatentWidth"/> (FLUX.1's downscale); <see cref="RgbaImage.FromVaeImage"/> makes the picture.
    /// </summary>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.ShapeMismatch"/> when the latent channels are not the VAE's.</exception>
    public float[] DecodeLatents(Engine engine, GenerationResult result, AutoencoderKLOptions? options = null)
    {
        if (result is null)
        {
            throw new ArgumentNullException(nameof(result));
        }

        return DecodePacked(engine, result.Latents, result.LatentChannels, result.LatentHeight, result.LatentWidth, options);
    }

    /// <summary>
    /// FluxPipeline's decode of packed latents [1, S_img, 4C] (C the VAE's latent channels) of a latentHeight x
    /// latentWidth latent image (both even, S_img = latentHeight / 2 x latentWidth / 2): the float image
    /// [1, 3, downscale latentHeight, downscale latentWidth].
    /// </summary>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.ShapeMismatch"/> naming sides or tokens that do not fit.</exception>
    public float[] DecodeLatents(Engine engine, float[] packedLatents, int latentHeight, int latentWidth, AutoencoderKLOptions? options = null) =>
        DecodePacked(engine, packedLatents, Info.LatentChannels, latentHeight, latentWidth, options);

    /// <summary>A generation's picture: its <c>DecodeLatents</c> in 8 bits (<see cref="RgbaImage.FromVaeImage"/>).</summary>
    public RgbaImage DecodeToImage(Engine engine, GenerationResult result, AutoencoderKLOptions? options = null)
    {
        float[] image = DecodeLatents(engine, result, options);
        return RgbaImage.FromVaeImage(image, result.LatentWidth * Info.Downscale, result.LatentHeight * Info.Downscale);
    }

    /// <summary>
    /// Image-to-image's start: the picture (VaeImageProcessor.preprocess: 2 x byte / 255 - 1) encoded into packed
    /// latents [1, S_img, 4C] in the transformer's space, ready as <see cref="GenerationInputs.InitLatents"/>.
    /// </summary>
    /// <param name="engine">The engine that runs the encoder.</param>
    /// <param name="image">Width and height multiples of 2 x the downscale (16 for FLUX.1).</param>
    /// <param name="sample">False: the posterior's mode (its mean); true: a sample, seeded by <paramref name="seed"/>.</param>
    /// <param name="seed">The sample's noise seed (the same bits on every platform).</param>
    /// <param name="options">Tiling; null for the defaults.</param>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.ShapeMismatch"/> naming a side that is not a multiple of 2 x the downscale.</exception>
    public float[] EncodeImage(Engine engine, RgbaImage image, bool sample = false, ulong seed = 0, AutoencoderKLOptions? options = null)
    {
        if (image is null)
        {
            throw new ArgumentNullException(nameof(image));
        }

        return EncodeImage(engine, image.ToVaeImage(), image.Width, image.Height, sample, seed, options);
    }

    /// <summary>
    /// Image-to-image's start from a float image [1, 3, height, width] in [-1, 1]: encoded, the mode or a seeded
    /// sample, (z - shift_factor) x scaling_factor, packed into latents [1, S_img, 4C].
    /// </summary>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.ShapeMismatch"/> naming a side that is not a multiple of 2 x the downscale.</exception>
    public unsafe float[] EncodeImage(Engine engine, float[] image, int width, int height, bool sample = false, ulong seed = 0, AutoencoderKLOptions? options = null)
    {
        RequireEngine(engine);
        long[] shape = [1, Info.InChannels, height, width];
        RequireHolds(image, shape, "image");
        long side = 2L * Info.Downscale;
        long tokens = height / side * (width / side), features = 4L * Info.LatentChannels;
        var latents = new float[checked(tokens * features)];
        svdq_vae_options native = Native(options);
        fixed (float* input = image)
        fixed (float* output = latents)
        {
            using SvdqTensorHandle inputTensor = NativeTensor.WrapF32(input, image.Length, shape);
            using SvdqTensorHandle outputTensor = NativeTensor.WrapF32(output, latents.Length, [1, tokens, features]);
            SvdqVaeHandle vae = _handle.NotDisposed(nameof(AutoencoderKL));
            using EngineCall call = engine.Enter();
            NativeStatus.Check(NativeMethods.svdq_flux_image_encode(call.Context, vae, &native, inputTensor, sample ? 1 : 0, seed, outputTensor));
        }

        return latents;
    }

    // Packed latents of `channels` latent channels: the engine names channels that are not the VAE's.
    private unsafe float[] DecodePacked(Engine engine, float[] packedLatents, int channels, int latentHeight, int latentWidth, AutoencoderKLOptions? options)
    {
        RequireEngine(engine);
        if (packedLatents is null)
        {
            throw new ArgumentNullException(nameof(packedLatents));
        }

        int features = 4 * channels;
        if (features < 1 || packedLatents.Length % features != 0)
        {
            throw new SvdQuantException(
                StatusCode.ShapeMismatch, $"packed latents hold {packedLatents.Length} values, not whole tokens of {features} features (4 x {channels} latent channels)");
        }

        long[] outShape = [1, Info.OutChannels, (long)latentHeight * Info.Downscale, (long)latentWidth * Info.Downscale];
        var image = new float[Count(outShape)];
        svdq_vae_options native = Native(options);
        fixed (float* input = packedLatents)
        fixed (float* output = image)
        {
            using SvdqTensorHandle inputTensor = NativeTensor.WrapF32(input, packedLatents.Length, [1, packedLatents.Length / features, features]);
            using SvdqTensorHandle outputTensor = NativeTensor.WrapF32(output, image.Length, outShape);
            SvdqVaeHandle vae = _handle.NotDisposed(nameof(AutoencoderKL));
            using EngineCall call = engine.Enter();
            NativeStatus.Check(NativeMethods.svdq_flux_latents_decode(call.Context, vae, &native, inputTensor, latentHeight, latentWidth, outputTensor));
        }

        return image;
    }

    /// <summary>Frees the native VAE. Calling it again does nothing.</summary>
    public void Dispose() => _handle.Dispose();

    private static unsafe svdq_vae_options Native(AutoencoderKLOptions? options)
    {
        svdq_vae_options native;
        NativeStatus.Check(NativeMethods.svdq_vae_options_init(&native));
        if (options is not null)
        {
            native.tiling = (int)options.Tiling;
            native.tile_sample_size = options.TileSize;
        }

        return native;
    }

    private static void RequireEngine(Engine engine)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }
    }

    private static void RequireRank4(ReadOnlySpan<long> shape, string name)
    {
        if (shape.Length != 4)
        {
            throw new SvdQuantException(StatusCode.ShapeMismatch, $"{name} has shape [{string.Join(", ", shape.ToArray())}], it must be [batch, channels, height, width]");
        }
    }

    // The engine names every shape that does not fit the VAE; an array that does not hold its shape is named here.
    private static void RequireHolds(float[] values, ReadOnlySpan<long> shape, string name)
    {
        if (values is null)
        {
            throw new ArgumentNullException(name);
        }

        RequireRank4(shape, name);
        if (values.LongLength != Count(shape))
        {
            throw new SvdQuantException(StatusCode.ShapeMismatch, $"{name} has {values.LongLength} values, its shape [{string.Join(", ", shape.ToArray())}] needs {Count(shape)}");
        }
    }

    private static long Count(ReadOnlySpan<long> shape)
    {
        long count = 1;
        foreach (long d in shape.ToArray()) // not the span's enumerator (see Pin)
        {
            count = checked(count * Math.Max(0, d));
        }

        return count;
    }

    private static unsafe AutoencoderKLInfo ReadInfo(SvdqVaeHandle handle)
    {
        svdq_vae_info info = default;
        info.struct_size = (uint)sizeof(svdq_vae_info);
        NativeStatus.Check(NativeMethods.svdq_vae_get_info(handle, &info));
        return new AutoencoderKLInfo(
            info.in_channels, info.out_channels, info.latent_channels, info.downscale, info.sample_size, info.scaling_factor,
            info.shift_factor, info.parameter_count, checked((long)info.weight_bytes));
    }
}
