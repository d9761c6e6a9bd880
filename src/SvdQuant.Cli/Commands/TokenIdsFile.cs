using System;
using System.Linq;
using SvdQuant.Formats;
using SvdQuant.Generation;

namespace SvdQuant.Cli.Commands;

/// <summary>
/// The token ids file of <c>svdquant encode --token-ids</c> and <c>generate --token-ids</c>:
/// <c>clip_input_ids</c> [B, L_clip] and <c>t5_input_ids</c> [B, L_t5], I64 or I32, one batch size.
/// </summary>
internal sealed record TokenIdsFile(int[] Clip, int[] T5, int Batch, int T5Length)
{
    public const string ClipKey = "clip_input_ids";
    public const string T5Key = "t5_input_ids";

    /// <summary>The prompt of a batch-1 file, for one picture.</summary>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.ShapeMismatch"/> for a batch of several prompts.</exception>
    public FluxPrompt ToPrompt(string path) => Batch == 1
        ? FluxPrompt.FromTokenIds(Clip, T5)
        : throw new SvdQuantException(StatusCode.ShapeMismatch, $"{path}: {Batch} prompts; generate takes the ids of one prompt ([1, L])");

    /// <summary>Reads the file; errors name a missing key, a wrong dtype or rank, an id beyond int, or two batch sizes.</summary>
    public static TokenIdsFile Read(string path)
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        (int[] clip, long clipBatch, _) = ReadIds(file, ClipKey);
        (int[] t5, long t5Batch, long t5Length) = ReadIds(file, T5Key);
        if (clipBatch != t5Batch)
        {
            throw new SvdQuantException(StatusCode.ShapeMismatch, $"{path}: {ClipKey} has {clipBatch} rows and {T5Key} {t5Batch}; they must be the same batch");
        }

        return new TokenIdsFile(clip, t5, checked((int)clipBatch), checked((int)t5Length));
    }

    private static (int[] Ids, long Batch, long Length) ReadIds(SafeTensorsFile file, string key)
    {
        if (!file.TryGetTensor(key, out TensorInfo tensor))
        {
            throw new SvdQuantException(StatusCode.Format, $"{file.Path}: missing tensor '{key}' [B, L] (I64 or I32)");
        }

        if (tensor.DType is not (TensorDType.I64 or TensorDType.I32))
        {
            throw new SvdQuantException(StatusCode.DType, $"{file.Path}: {key} is {tensor.DType}; token ids are I64 or I32");
        }

        if (tensor.Shape.Count != 2 || tensor.Shape.Any(d => d < 1))
        {
            throw new SvdQuantException(StatusCode.ShapeMismatch, $"{file.Path}: {key} is [{string.Join(", ", tensor.Shape)}]; token ids are [B, L]");
        }

        ReadOnlySpan<byte> data = file.GetData(key);
        var ids = new int[checked((int)tensor.ElementCount)];
        for (int i = 0; i < ids.Length; i++)
        {
            long id = tensor.DType == TensorDType.I64 ? BitConverter.ToInt64(data.Slice(i * 8, 8)) : BitConverter.ToInt32(data.Slice(i * 4, 4));
            ids[i] = id is >= int.MinValue and <= int.MaxValue ? (int)id
                : throw new SvdQuantException(StatusCode.InvalidArgument, $"{file.Path}: {key} holds the id {id} at flat index {i}, outside any vocabulary");
        }

        return (ids, tensor.Shape[0], tensor.Shape[1]);
    }
}
