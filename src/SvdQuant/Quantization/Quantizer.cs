using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using CommunityToolkit.HighPerformance;
using SvdQuant.Models;
using SvdQuant.Native;

namespace SvdQuant.Quantization;

/// <summary>
/// The offline quantizer (DESIGN.md section 3): searches the smoothing exponents on calibration
/// activations with the low-rank branch in every candidate's score, factorises the smoothed
/// weight and quantizes the residual, for SVDQuant and each baseline of its ablation.
/// </summary>
public static class Quantizer
{
    /// <summary>Quantizes one layer.</summary>
    /// <param name="engine">The engine to run on.</param>
    /// <param name="calibration">Calibration activations X [M, K]; may be empty for methods that do not smooth.</param>
    /// <param name="weight">W [N, K].</param>
    /// <param name="bias">[N] or null.</param>
    /// <param name="options">Null for the defaults (SVDQuant, INT4, rank 32).</param>
    /// <returns>The layer, its smoothing factors and branch, and the report.</returns>
    /// <exception cref="SvdQuantException">The engine rejected the inputs or options.</exception>
    public static QuantizedLayers Quantize(
        Engine engine, ReadOnlySpan2D<float> calibration, float[,] weight, float[]? bias = null, QuantizerOptions? options = null) =>
        QuantizeGroup(engine, calibration, [weight ?? throw new ArgumentNullException(nameof(weight))], [bias], options);

    /// <summary>Quantizes layers that read the same input (e.g. Q, K and V); they share one smoothing.</summary>
    /// <param name="engine">The engine to run on.</param>
    /// <param name="calibration">Calibration activations X [M, K]; may be empty for methods that do not smooth.</param>
    /// <param name="weights">W_i [N_i, K], at least one.</param>
    /// <param name="biases">Null, or one entry (null for none) per weight.</param>
    /// <param name="options">Null for the defaults.</param>
    /// <returns>One layer per weight, the shared smoothing factors, each layer's branch and the report.</returns>
    /// <exception cref="SvdQuantException">The engine rejected the inputs or options.</exception>
    public static unsafe QuantizedLayers QuantizeGroup(
        Engine engine,
        ReadOnlySpan2D<float> calibration,
        IReadOnlyList<float[,]> weights,
        IReadOnlyList<float[]?>? biases = null,
        QuantizerOptions? options = null)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        if (weights is null || weights.Count == 0)
        {
            throw new ArgumentException("At least one weight is required.", nameof(weights));
        }

        if (biases is not null && biases.Count != weights.Count)
        {
            throw new ArgumentException($"{biases.Count} biases for {weights.Count} weights.", nameof(biases));
        }

        options ??= new QuantizerOptions();
        RefuseLoras(options);
        int count = weights.Count;
        int k = weights[0].GetLength(1);
        var pins = new List<GCHandle>();
        var tensors = new List<SvdqTensorHandle>();
        // The owners of the new layers exist before the call, so taking ownership after it cannot fail.
        var owners = new SvdqLinearHandle[count];
        for (int i = 0; i < count; i++)
        {
            owners[i] = new SvdqLinearHandle();
        }

        try
        {
            // The weights and biases stay pinned for the call only.
            SvdqTensorHandle Wrap(Array array, ReadOnlySpan<long> shape)
            {
                GCHandle pin = GCHandle.Alloc(array, GCHandleType.Pinned);
                pins.Add(pin);
                SvdqTensorHandle tensor = NativeTensor.WrapF32((float*)pin.AddrOfPinnedObject(), array.Length, shape);
                tensors.Add(tensor);
                return tensor;
            }

            bool hasBranch = options.Method is QuantizationMethod.LowRank or QuantizationMethod.SvdQuant;
            var branches = new LowRankBranch?[count];
            var weightPointers = new IntPtr[count];
            var biasPointers = new IntPtr[count];
            var upPointers = new IntPtr[count];
            var downPointers = new IntPtr[count];
            for (int i = 0; i < count; i++)
            {
                float[,] w = weights[i] ?? throw new ArgumentException($"weights[{i}] is null.", nameof(weights));
                weightPointers[i] = Wrap(w, [w.GetLength(0), w.GetLength(1)]).DangerousGetHandle();
                float[]? b = biases?[i];
                biasPointers[i] = b is null ? IntPtr.Zero : Wrap(b, [b.Length]).DangerousGetHandle();
                if (hasBranch)
                {
                    var branch = new LowRankBranch(new float[w.GetLength(0), options.Rank], new float[options.Rank, k]);
                    branches[i] = branch;
                    upPointers[i] = Wrap(branch.Up, [w.GetLength(0), options.Rank]).DangerousGetHandle();
                    downPointers[i] = Wrap(branch.Down, [options.Rank, k]).DangerousGetHandle();
                }
            }

            var smooth = new float[k];
            var linears = new IntPtr[count];
            svdq_quantize_options native = ToNative(options);
            svdq_quantize_report report = default;
            report.struct_size = (uint)sizeof(svdq_quantize_report);
            ReadOnlySpan<float> x = calibration.IsEmpty ? default : ContiguousRows.Of(calibration);
            fixed (float* xData = &Pin.Ref(x))
            fixed (float* smoothData = smooth)
            fixed (IntPtr* weightData = weightPointers)
            fixed (IntPtr* biasData = biasPointers)
            fixed (IntPtr* linearData = linears)
            fixed (IntPtr* upData = upPointers)
            fixed (IntPtr* downData = downPointers)
            {
                using SvdqTensorHandle? xTensor = x.IsEmpty ? null
                    : NativeTensor.WrapF32(xData, x.Length, [calibration.Height, calibration.Width]);
                using SvdqTensorHandle smoothTensor = NativeTensor.WrapF32(smoothData, smooth.Length, [smooth.Length]);
                using EngineCall call = engine.Enter();
                svdq_status status = NativeMethods.svdq_quantize_linears(
                    call.Context, &native, xTensor.OrNone(), weightData, biasData, count, linearData,
                    smoothTensor, hasBranch ? upData : null, hasBranch ? downData : null, &report);
                // All or none were written; from here every layer is destroyed by its owner, exactly once.
                for (int i = 0; i < count; i++)
                {
                    owners[i].TakeOwnership(linears[i]);
                }

                NativeStatus.Check(status);
                foreach (SvdqLinearHandle owner in owners)
                {
                    owner.HoldContext(call.Context);
                }
            }

            var layers = new LinearLayer[count];
            for (int i = 0; i < count; i++)
            {
                layers[i] = LinearLayer.Adopt(owners[i]);
            }

            return new QuantizedLayers(layers, smooth, branches, ReportOf(report));
        }
        catch
        {
            // Disposing a handle twice does nothing, so this also covers the layers already adopted.
            foreach (SvdqLinearHandle owner in owners)
            {
                owner.Dispose();
            }

            throw;
        }
        finally
        {
            foreach (SvdqTensorHandle tensor in tensors)
            {
                tensor.Dispose();
            }

            foreach (GCHandle pin in pins)
            {
                pin.Free();
            }
        }
    }

    /// <summary>
    /// Quantizes the layer stored in <paramref name="inputPath"/> (safetensors with <c>weight</c> [N, K],
    /// optional <c>bias</c> [N] and <c>calib</c> [M, K]) and writes it to <paramref name="outputPath"/> as
    /// one Nunchaku-style layer, loadable with <see cref="Models.LinearLayer.Load"/>: the W4A4 methods in INT4 or NVFP4
    /// as Nunchaku's SVDQuant layers, <see cref="QuantizationMethod.W4A16"/> as its AWQ layers (INT4 only).
    /// </summary>
    /// <exception cref="SvdQuantException">A missing or misshapen tensor, named with its file, or W4A16 with
    /// <see cref="NumberFormat.Nvfp4"/> (<see cref="StatusCode.Unsupported"/>); no output file is left.</exception>
    public static unsafe QuantizationReport QuantizeFile(Engine engine, string inputPath, string outputPath, QuantizerOptions? options = null)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        options ??= new QuantizerOptions();
        RefuseLoras(options);
        svdq_quantize_options native = ToNative(options);
        svdq_quantize_report report = default;
        report.struct_size = (uint)sizeof(svdq_quantize_report);
        byte[] input = NativeText.ToUtf8(inputPath ?? throw new ArgumentNullException(nameof(inputPath)));
        byte[] output = NativeText.ToUtf8(outputPath ?? throw new ArgumentNullException(nameof(outputPath)));
        fixed (byte* inputData = input)
        fixed (byte* outputData = output)
        {
            using EngineCall call = engine.Enter();
            NativeStatus.Check(NativeMethods.svdq_layer_quantize_file(call.Context, &native, inputData, outputData, &report));
        }

        return ReportOf(report);
    }

    /// <summary>
    /// Quantizes the float diffusers FLUX model in <paramref name="modelPath"/> with calibrated
    /// SVDQuant and writes one Nunchaku-style safetensors file (fused qkv, AWQ W4A16 adaLN layers,
    /// float embedders), loadable with <see cref="FluxTransformer.Load"/> and by Nunchaku. Blocks are
    /// streamed one at a time, so memory holds one float block and its calibration activations.
    /// </summary>
    /// <param name="engine">The engine to run on.</param>
    /// <param name="modelPath">A diffusers folder (config.json and safetensors shards), or a pipeline folder with one as transformer/.</param>
    /// <param name="outputPath">The file to write; nothing is left there on failure or cancellation.</param>
    /// <param name="options">A W4A4 method (default SVDQuant), INT4 or NVFP4, the rank, LoRAs to merge first; null for the defaults.</param>
    /// <param name="calibrationPath">
    /// Inputs to calibrate on: a safetensors file with the keys of <c>svdquant flux forward</c>, every
    /// batch item a sample. Null: 4 synthetic samples (Gaussian latents and text states), which
    /// calibrate worse than recorded prompts.
    /// </param>
    /// <param name="progress">Told after each layer; may be null.</param>
    /// <param name="cancellationToken">Checked after each layer.</param>
    /// <exception cref="SvdQuantException">A bad model, calibration file, option or LoRA (see <see cref="LoraFile.Load"/> and <see cref="FluxLoraCollection.Add(Engine, string, float)"/>), named.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
    public static unsafe void QuantizeFlux(
        Engine engine, string modelPath, string outputPath, QuantizerOptions? options = null, string? calibrationPath = null,
        IProgress<FluxQuantizeProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        options ??= new QuantizerOptions();
        svdq_quantize_options native = ToNative(options);
        byte[] model = NativeText.ToUtf8(modelPath ?? throw new ArgumentNullException(nameof(modelPath)));
        byte[] output = NativeText.ToUtf8(outputPath ?? throw new ArgumentNullException(nameof(outputPath)));
        byte[]? calibration = calibrationPath is null ? null : NativeText.ToUtf8(calibrationPath);
        var loras = new List<LoraFile>();
        try
        {
            // Every file is read and checked before the model is touched; each stays open for the call.
            var merges = new svdq_lora_merge[options.Loras.Count];
            for (int i = 0; i < merges.Length; i++)
            {
                LoraMerge merge = options.Loras[i] ?? throw new ArgumentException($"Loras[{i}] is null.", nameof(options));
                LoraFile file = LoraFile.Load(merge.Path);
                loras.Add(file);
                merges[i] = new svdq_lora_merge { lora = file.Handle.DangerousGetHandle(), strength = merge.Strength };
            }

            using var session = new NativeQuantizeProgress(progress, cancellationToken);
            fixed (byte* modelData = model)
            fixed (byte* outputData = output)
            fixed (byte* calibrationData = calibration)
            fixed (svdq_lora_merge* mergeData = merges)
            {
                using EngineCall call = engine.Enter();
                session.Check(NativeMethods.svdq_flux_quantize(
                    call.Context, modelData, calibrationData, outputData, &native, mergeData, merges.Length,
                    NativeQuantizeProgress.CallbackPointer, session.UserData));
            }
        }
        finally
        {
            foreach (LoraFile file in loras)
            {
                file.Dispose();
            }
        }
    }

    // The layer quantizers have no model to match a LoRA to: a list they would ignore is a mistake.
    private static void RefuseLoras(QuantizerOptions options)
    {
        if (options.Loras.Count > 0)
        {
            throw new ArgumentException("QuantizerOptions.Loras applies to Quantizer.QuantizeFlux only; a layer has no module names to match a LoRA to.", nameof(options));
        }
    }

    private static QuantizationReport ReportOf(svdq_quantize_report report) => new(
        report.alpha, report.beta, report.candidates, report.refine_rounds, report.calibration_error,
        TimeSpan.FromSeconds(report.search_seconds), TimeSpan.FromSeconds(report.svd_seconds),
        TimeSpan.FromSeconds(report.packing_seconds));

    private static unsafe svdq_quantize_options ToNative(QuantizerOptions o)
    {
        svdq_quantize_options native = default;
        NativeStatus.Check(NativeMethods.svdq_quantize_options_init(&native));
        native.method = (int)o.Method;
        native.format = (int)o.Format;
        native.rank = o.Rank;
        native.search = (int)o.Search;
        native.grid_steps = o.GridSteps;
        native.alpha = o.Alpha;
        native.beta = o.Beta;
        native.refine_iterations = o.RefineIterations;
        native.score_tokens = o.ScoreTokens;
        native.score_rows = o.ScoreRows;
        native.activation = (int)o.Activation;
        native.branch_execution = (int)o.BranchExecution;
        return native;
    }
}
