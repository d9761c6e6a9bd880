using System;
using SvdQuant.Native;

namespace SvdQuant.Models;

/// <summary>
/// transformers' <c>CLIPTextModel</c> (FLUX's <c>text_encoder/</c>, CLIP-L) on the native engine: token ids in,
/// the last hidden state and the pooled output (FLUX's <c>pooled_projections</c>) out.
/// </summary>
public sealed class ClipTextEncoder : IDisposable
{
    private readonly SvdqClipHandle _handle;

    private ClipTextEncoder(SvdqClipHandle handle, ClipTextEncoderInfo info)
    {
        _handle = handle;
        Info = info;
    }

    /// <summary>Configuration and memory.</summary>
    public ClipTextEncoderInfo Info { get; }

    /// <summary>
    /// Loads a transformers folder (config.json plus model.safetensors or indexed shards; F32, F16 or BF16) or a
    /// FLUX pipeline folder, whose <c>text_encoder/</c> is read.
    /// </summary>
    /// <exception cref="SvdQuantException">A missing folder, config or tensor, or a tensor whose shape does not fit the config, named.</exception>
    public static unsafe ClipTextEncoder Load(Engine engine, string path)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        if (path is null)
        {
            throw new ArgumentNullException(nameof(path));
        }

        SvdqClipHandle clip;
        fixed (byte* pathData = NativeText.ToUtf8(path))
        {
            using EngineCall call = engine.Enter();
            NativeStatus.Check(NativeMethods.svdq_clip_load(call.Context, pathData, out clip));
            clip.HoldContext(call.Context);
        }

        return OwnedHandle.Adopt(clip, handle => new ClipTextEncoder(handle, ReadInfo(handle)));
    }

    /// <summary>Encodes <paramref name="batch"/> rows of token ids (row-major [B, L], L at most <see cref="ClipTextEncoderInfo.MaxPositionEmbeddings"/>).</summary>
    /// <exception cref="ArgumentException">The ids are not <paramref name="batch"/> non-empty rows.</exception>
    /// <exception cref="SvdQuantException">An id outside the vocabulary or a row too long, named.</exception>
    public unsafe ClipTextOutput Encode(Engine engine, int[] ids, int batch = 1)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        int length = TokenIdRows.LengthOf(ids, batch, nameof(ids));
        int d = Info.HiddenSize;
        var last = new float[checked(ids.Length * d)];
        var pooled = new float[checked(batch * d)];
        fixed (int* idData = ids)
        fixed (float* lastData = last)
        fixed (float* pooledData = pooled)
        {
            using SvdqTensorHandle idTensor = NativeTensor.WrapI32(idData, ids.Length, [batch, length]);
            using SvdqTensorHandle lastTensor = NativeTensor.WrapF32(lastData, last.Length, [batch, length, d]);
            using SvdqTensorHandle pooledTensor = NativeTensor.WrapF32(pooledData, pooled.Length, [batch, d]);
            SvdqClipHandle clip = _handle.NotDisposed(nameof(ClipTextEncoder));
            using EngineCall call = engine.Enter();
            NativeStatus.Check(NativeMethods.svdq_clip_forward(call.Context, clip, idTensor, lastTensor, pooledTensor));
        }

        return new ClipTextOutput(last, pooled, batch, length);
    }

    /// <summary>Frees the native encoder. Calling it again does nothing.</summary>
    public void Dispose() => _handle.Dispose();

    private static unsafe ClipTextEncoderInfo ReadInfo(SvdqClipHandle handle)
    {
        svdq_clip_info info = default;
        info.struct_size = (uint)sizeof(svdq_clip_info);
        NativeStatus.Check(NativeMethods.svdq_clip_get_info(handle, &info));
        return new ClipTextEncoderInfo(
            info.hidden_size, info.intermediate_size, info.num_hidden_layers, info.num_attention_heads, info.max_position_embeddings,
            info.vocab_size, info.eos_token_id, checked((long)info.weight_bytes));
    }
}
