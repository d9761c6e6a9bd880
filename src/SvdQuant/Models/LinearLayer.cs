using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using CommunityToolkit.HighPerformance;
using SvdQuant.Native;
using SvdQuant.Quantization;

namespace SvdQuant.Models;

/// <summary>
/// A linear layer Y = act(X W^T + bias) held by the native engine in the chosen scheme and format.
/// Immutable after creation except for its low-rank updates (<see cref="SetLowRankUpdates"/>); may be shared by several engines.
/// </summary>
/// <remarks>
/// Matrices are row-major. Spans with a pitch (gaps between rows) are accepted and
/// copied to a contiguous buffer first, so gap-free spans avoid a copy.
/// </remarks>
public sealed class LinearLayer : IDisposable
{
    private readonly SvdqLinearHandle _handle;

    private LinearLayer(SvdqLinearHandle handle, LinearLayerInfo info)
    {
        _handle = handle;
        Info = info;
    }

    /// <summary>What the layer holds.</summary>
    public LinearLayerInfo Info { get; }

    /// <summary>Builds a layer, quantizing the weights when <paramref name="scheme"/> asks for it.</summary>
    /// <param name="engine">The engine that prepares the weights.</param>
    /// <param name="scheme">Which operands are 4-bit; <see cref="LinearLayerOptions.Format"/> says in which format.</param>
    /// <param name="weight">W [N, K]; K must be a multiple of the 4-bit format's group (64 INT4, 16 NVFP4). Copied, not kept.</param>
    /// <param name="bias">[N], or empty for none.</param>
    /// <param name="options">Activation, smoothing and low-rank branch; null for none.</param>
    /// <exception cref="SvdQuantException">The engine rejected the parts, e.g. <see cref="StatusCode.ShapeMismatch"/> or <see cref="StatusCode.NonFinite"/>, or <see cref="StatusCode.Unsupported"/> for a scheme and format that do not pair.</exception>
    public static unsafe LinearLayer Create(
        Engine engine,
        LinearScheme scheme,
        ReadOnlySpan2D<float> weight,
        ReadOnlySpan<float> bias = default,
        LinearLayerOptions? options = null)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        options ??= new LinearLayerOptions();
        ReadOnlySpan<float> weightRows = ContiguousRows.Of(weight);
        float[]? smooth = options.Smooth;
        LowRankBranch? lowRank = options.LowRank;

        fixed (float* weightData = &Pin.Ref(weightRows))
        fixed (float* biasData = &Pin.Ref(bias))
        fixed (float* smoothData = smooth)
        fixed (float* upData = lowRank?.Up)
        fixed (float* downData = lowRank?.Down)
        {
            using SvdqTensorHandle weightTensor = NativeTensor.WrapF32(weightData, weightRows.Length, [weight.Height, weight.Width]);
            using SvdqTensorHandle? biasTensor = bias.IsEmpty ? null
                : NativeTensor.WrapF32(biasData, bias.Length, [bias.Length]);
            using SvdqTensorHandle? smoothTensor = smooth is null ? null
                : NativeTensor.WrapF32(smoothData, smooth.Length, [smooth.Length]);
            using SvdqTensorHandle? upTensor = lowRank is null ? null
                : NativeTensor.WrapF32(upData, lowRank.Up.Length, [lowRank.OutFeatures, lowRank.Rank]);
            using SvdqTensorHandle? downTensor = lowRank is null ? null
                : NativeTensor.WrapF32(downData, lowRank.Down.Length, [lowRank.Rank, lowRank.InFeatures]);

            var desc = new svdq_linear_desc
            {
                struct_size = (uint)sizeof(svdq_linear_desc),
                scheme = (int)scheme,
                activation = (int)options.Activation,
                weight = weightTensor.DangerousGetHandle(),
                bias = NativeTensor.PointerOf(biasTensor),
                smooth = NativeTensor.PointerOf(smoothTensor),
                lowrank_up = NativeTensor.PointerOf(upTensor),
                lowrank_down = NativeTensor.PointerOf(downTensor),
                branch_execution = (int)options.BranchExecution,
                format = (int)(options.Format ?? (scheme == LinearScheme.Float ? NumberFormat.Float : NumberFormat.Int4)),
            };

            SvdqLinearHandle linear;
            using (EngineCall call = engine.Enter())
            {
                NativeStatus.Check(NativeMethods.svdq_linear_create(call.Context, &desc, out linear));
                linear.HoldContext(call.Context);
            }

            return Adopt(linear);
        }
    }

    /// <summary>
    /// Test seam: runs on each native layer being adopted, before its info is read, so a test can make that
    /// step fail. Null (nothing runs) outside tests.
    /// </summary>
    [ThreadStatic]
    internal static Action<SvdqLinearHandle>? BeforeReadInfo;

    /// <summary>Takes ownership of a native layer the engine just created; disposes it if that fails.</summary>
    internal static LinearLayer Adopt(SvdqLinearHandle linear) =>
        OwnedHandle.Adopt(linear, handle =>
        {
            BeforeReadInfo?.Invoke(handle);
            return new LinearLayer(handle, ReadInfo(handle));
        });

    /// <summary>
    /// Loads a layer written by <see cref="Quantization.Quantizer.QuantizeFile"/> (any method and format), its 4-bit
    /// values as stored, never quantized again.
    /// </summary>
    /// <exception cref="SvdQuantException">The file is missing, corrupt, or not a quantized layer.</exception>
    public static unsafe LinearLayer Load(Engine engine, string path)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        SvdqLinearHandle linear;
        byte[] utf8 = NativeText.ToUtf8(path ?? throw new ArgumentNullException(nameof(path)));
        fixed (byte* pathData = utf8)
        {
            using EngineCall call = engine.Enter();
            NativeStatus.Check(NativeMethods.svdq_linear_load(call.Context, pathData, out linear));
            linear.HoldContext(call.Context);
        }

        return Adopt(linear);
    }

    /// <summary>Computes y = act(x W^T + bias).</summary>
    /// <param name="engine">The engine to run on.</param>
    /// <param name="x">Input X [M, K].</param>
    /// <param name="y">Output Y [M, N], overwritten.</param>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.ShapeMismatch"/> when x or y does not fit the layer.</exception>
    /// <exception cref="ObjectDisposedException">The layer or the engine was disposed.</exception>
    public void Forward(Engine engine, ReadOnlySpan2D<float> x, Span2D<float> y)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        ReadOnlySpan<float> input = ContiguousRows.Of(x);
        if (y.TryGetSpan(out Span<float> output))
        {
            Forward(engine, input, x.Height, x.Width, output, y.Height, y.Width);
            return;
        }

        var dense = new float[y.Length];
        Forward(engine, input, x.Height, x.Width, dense, y.Height, y.Width);
        new ReadOnlySpan2D<float>(dense, y.Height, y.Width).CopyTo(y);
    }

    /// <summary>Computes and returns y = act(x W^T + bias) [M, N] for x [M, K].</summary>
    /// <param name="engine">The engine to run on.</param>
    /// <param name="x">Input X [M, K].</param>
    /// <returns>A new array Y [M, N].</returns>
    public float[,] Forward(Engine engine, float[,] x)
    {
        if (x is null)
        {
            throw new ArgumentNullException(nameof(x));
        }

        var y = new float[x.GetLength(0), Info.OutFeatures];
        Forward(engine, x, y);
        return y;
    }

    /// <summary>
    /// Sets the layer's extra low-rank terms (LoRAs): y = layer(x) + sum_i Scale_i (x Down_i^T) Up_i^T, added
    /// before the activation. A W4A4 layer with a fused branch runs them inside its branch (concatenated along
    /// the rank, stored as BF16 like the branch); other layers run them as an unfused float branch. The set
    /// replaces the previous one as a whole; an empty set (or every scale 0) restores the layer's outputs bit
    /// for bit. Not while the layer runs a forward on another thread.
    /// </summary>
    /// <param name="engine">The engine that prepares the branch.</param>
    /// <param name="updates">The terms, each Down [r, K] and Up [N, r] of this layer's K and N; empty for none. Copied, not kept.</param>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.ShapeMismatch"/> for a factor that does not fit the layer, <see cref="StatusCode.NonFinite"/>; the layer is unchanged.</exception>
    public unsafe void SetLowRankUpdates(Engine engine, IReadOnlyList<LowRankUpdate> updates)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        if (updates is null)
        {
            throw new ArgumentNullException(nameof(updates));
        }

        var pins = new List<GCHandle>();
        var tensors = new List<SvdqTensorHandle>();
        try
        {
            // The factors stay pinned for the call only.
            IntPtr Wrap(float[,] matrix)
            {
                GCHandle pin = GCHandle.Alloc(matrix, GCHandleType.Pinned);
                pins.Add(pin);
                SvdqTensorHandle tensor = NativeTensor.WrapF32(
                    (float*)pin.AddrOfPinnedObject(), matrix.Length, [matrix.GetLength(0), matrix.GetLength(1)]);
                tensors.Add(tensor);
                return tensor.DangerousGetHandle();
            }

            var native = new svdq_low_rank_update[updates.Count];
            for (int i = 0; i < native.Length; i++)
            {
                LowRankUpdate update = updates[i] ?? throw new ArgumentException($"updates[{i}] is null.", nameof(updates));
                native[i] = new svdq_low_rank_update
                {
                    struct_size = (uint)sizeof(svdq_low_rank_update),
                    down = Wrap(update.Down),
                    up = Wrap(update.Up),
                    scale = update.Scale,
                };
            }

            fixed (svdq_low_rank_update* updateData = native)
            {
                SvdqLinearHandle layer = _handle.NotDisposed(nameof(LinearLayer));
                using EngineCall call = engine.Enter();
                NativeStatus.Check(NativeMethods.svdq_linear_set_low_rank_updates(call.Context, layer, updateData, native.Length));
            }
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

    /// <summary>Frees the native layer. Calling it again does nothing.</summary>
    public void Dispose() => _handle.Dispose();

    private unsafe void Forward(Engine engine, ReadOnlySpan<float> x, int xRows, int xColumns, Span<float> y, int yRows, int yColumns)
    {
        fixed (float* xData = &Pin.Ref(x))
        fixed (float* yData = y)
        {
            using SvdqTensorHandle xTensor = NativeTensor.WrapF32(xData, x.Length, [xRows, xColumns]);
            using SvdqTensorHandle yTensor = NativeTensor.WrapF32(yData, y.Length, [yRows, yColumns]);
            SvdqLinearHandle layer = _handle.NotDisposed(nameof(LinearLayer));
            using EngineCall call = engine.Enter();
            NativeStatus.Check(NativeMethods.svdq_linear_forward(call.Context, layer, xTensor, yTensor));
        }
    }

    private static unsafe LinearLayerInfo ReadInfo(SvdqLinearHandle handle)
    {
        svdq_linear_info info = default;
        info.struct_size = (uint)sizeof(svdq_linear_info);
        NativeStatus.Check(NativeMethods.svdq_linear_get_info(handle, &info));
        return new LinearLayerInfo(
            (LinearScheme)info.scheme,
            (Activation)info.activation,
            info.rank,
            info.has_bias != 0,
            info.has_smooth != 0,
            (BranchExecution)info.branch_execution,
            checked((int)info.in_features),
            checked((int)info.out_features),
            checked((long)info.weight_bytes),
            (NumberFormat)info.format);
    }
}
