using System;
using SvdQuant.Native;

namespace SvdQuant.Models;

/// <summary>
/// transformers' <c>T5EncoderModel</c> v1.1 (FLUX's <c>text_encoder_2/</c>, T5-XXL) on the native engine, in float or
/// with W4A16 block linears: token ids in, the last hidden state (FLUX's <c>encoder_hidden_states</c>) out.
/// </summary>
public sealed class T5TextEncoder : IDisposable
{
    private readonly SvdqT5Handle _handle;

    private T5TextEncoder(SvdqT5Handle handle, T5TextEncoderInfo info)
    {
        _handle = handle;
        Info = info;
    }

    /// <summary>Configuration, scheme and memory.</summary>
    public T5TextEncoderInfo Info { get; }

    /// <summary>
    /// Loads a transformers folder (config.json plus model.safetensors or indexed shards; F32, F16 or BF16), a FLUX
    /// pipeline folder (its <c>text_encoder_2/</c>), or a 4-bit T5 file <see cref="Save"/> wrote.
    /// </summary>
    /// <param name="engine">The engine that prepares the weights.</param>
    /// <param name="path">The folder or file.</param>
    /// <param name="scheme"><see cref="LinearScheme.Float"/>, or <see cref="LinearScheme.W4A16"/> to quantize the block linears to INT4 at load.</param>
    /// <exception cref="SvdQuantException">A missing folder, config or tensor, a tensor whose shape does not fit the config, or a scheme this build lacks, named.</exception>
    public static unsafe T5TextEncoder Load(Engine engine, string path, LinearScheme scheme = LinearScheme.Float)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        if (path is null)
        {
            throw new ArgumentNullException(nameof(path));
        }

        var options = new svdq_t5_load_options { struct_size = (uint)sizeof(svdq_t5_load_options), scheme = (int)scheme };
        SvdqT5Handle t5;
        fixed (byte* pathData = NativeText.ToUtf8(path))
        {
            using EngineCall call = engine.Enter();
            NativeStatus.Check(NativeMethods.svdq_t5_load(call.Context, pathData, &options, out t5));
            t5.HoldContext(call.Context);
        }

        return OwnedHandle.Adopt(t5, handle => new T5TextEncoder(handle, ReadInfo(handle)));
    }

    /// <summary>Encodes <paramref name="batch"/> rows of token ids (row-major [B, L]); returns [B, L, d_model].</summary>
    /// <param name="engine">The engine that runs it.</param>
    /// <param name="ids">[B, L] ids.</param>
    /// <param name="batch">B.</param>
    /// <param name="attentionMask">Null (every token attended to, as FLUX calls the encoder), or [B, L] of 1 (a token) and 0 (padding no query attends to).</param>
    /// <exception cref="ArgumentException">The ids are not <paramref name="batch"/> non-empty rows, or the mask is not their size.</exception>
    /// <exception cref="SvdQuantException">An id outside the vocabulary or a mask value other than 0 and 1, named.</exception>
    public unsafe float[] Encode(Engine engine, int[] ids, int batch = 1, int[]? attentionMask = null)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        int length = TokenIdRows.LengthOf(ids, batch, nameof(ids));
        if (attentionMask is not null && attentionMask.Length != ids.Length)
        {
            throw new ArgumentException($"attentionMask holds {attentionMask.Length} values for {ids.Length} ids", nameof(attentionMask));
        }

        var output = new float[checked(ids.Length * Info.ModelDim)];
        fixed (int* idData = ids)
        fixed (int* maskData = attentionMask)
        fixed (float* outputData = output)
        {
            using SvdqTensorHandle idTensor = NativeTensor.WrapI32(idData, ids.Length, [batch, length]);
            using SvdqTensorHandle? maskTensor = attentionMask is null ? null : NativeTensor.WrapI32(maskData, attentionMask.Length, [batch, length]);
            using SvdqTensorHandle outputTensor = NativeTensor.WrapF32(outputData, output.Length, [batch, length, Info.ModelDim]);
            SvdqT5Handle t5 = _handle.NotDisposed(nameof(T5TextEncoder));
            using EngineCall call = engine.Enter();
            NativeStatus.Check(NativeMethods.svdq_t5_forward(call.Context, t5, idTensor, maskTensor.OrNone(), outputTensor));
        }

        return output;
    }

    /// <summary>Writes a W4A16 encoder as one safetensors file that <see cref="Load"/> reads back bit for bit; atomically.</summary>
    /// <exception cref="SvdQuantException">The file cannot be written, or this encoder or build cannot save one, named.</exception>
    public unsafe void Save(string path)
    {
        if (path is null)
        {
            throw new ArgumentNullException(nameof(path));
        }

        SvdqT5Handle t5 = _handle.NotDisposed(nameof(T5TextEncoder));
        fixed (byte* pathData = NativeText.ToUtf8(path))
        {
            NativeStatus.Check(NativeMethods.svdq_t5_save(t5, pathData));
        }
    }

    /// <summary>Frees the native encoder. Calling it again does nothing.</summary>
    public void Dispose() => _handle.Dispose();

    private static unsafe T5TextEncoderInfo ReadInfo(SvdqT5Handle handle)
    {
        svdq_t5_info info = default;
        info.struct_size = (uint)sizeof(svdq_t5_info);
        NativeStatus.Check(NativeMethods.svdq_t5_get_info(handle, &info));
        return new T5TextEncoderInfo(
            info.d_model, info.d_kv, info.d_ff, info.num_layers, info.num_heads, (LinearScheme)info.scheme, info.vocab_size,
            checked((long)info.weight_bytes));
    }
}
