using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Spectre.Console;
using SvdQuant.Formats;
using SvdQuant.Generation;
using SvdQuant.Models;

namespace SvdQuant.Cli.Commands;

/// <summary>
/// <c>svdquant encode</c>: a prompt (or given token ids) through a FLUX pipeline's CLIP and T5 into the
/// safetensors file <c>svdquant generate --embeddings</c> reads. Bad input (a folder without the encoders,
/// weights that do not fit the config, ids outside a vocabulary, a missing tokenizer file, ids of the wrong
/// key, shape or dtype) is one line naming it, exit code 2, and no file.
/// </summary>
internal sealed class EncodeCommand : FileCommand<EncodeSettings>
{
    private const string ClipIdsKey = "clip_input_ids";
    private const string T5IdsKey = "t5_input_ids";

    private static readonly Dictionary<string, LinearScheme> Precisions = new(StringComparer.Ordinal)
    {
        ["float"] = LinearScheme.Float,
        ["w4a16"] = LinearScheme.W4A16,
    };

    protected override int Run(EncodeSettings settings, CancellationToken cancellationToken)
    {
        if (!Precisions.TryGetValue(settings.T5Precision, out LinearScheme precision))
        {
            return Fail($"unknown --t5-precision '{settings.T5Precision}'; use float or w4a16");
        }

        if (settings.MaxLength is not null && settings.TokenIds is not null)
        {
            return Fail("--max-length applies to --prompt; with --token-ids the ids' own length is used");
        }

        if (settings.MaxLength is < 1)
        {
            return Fail($"--max-length {settings.MaxLength} must be at least 1");
        }

        RefuseToOverwriteInputs(settings.Output, settings.Model, settings.TokenIds);
        using var engine = new Engine();
        using TextEncoders encoders = TextEncoders.Load(
            engine, settings.Model, new TextEncoderOptions { T5Precision = precision, T5MaxLength = settings.MaxLength });

        int batch, t5Length;
        float[] states, pooled;
        if (settings.TokenIds is not null)
        {
            (int[] clipIds, int[] t5Ids, batch, t5Length) = ReadTokenIds(settings.TokenIds);
            pooled = encoders.Clip.Encode(engine, clipIds, batch).Pooled;
            states = encoders.T5.Encode(engine, t5Ids, batch);
        }
        else
        {
            TextConditioning conditioning = encoders.Encode(settings.Prompt!);
            foreach (string warning in encoders.Warnings)
            {
                Console.Error.WriteLine($"svdquant: warning: {warning}");
            }

            (batch, t5Length, states, pooled) = (1, conditioning.TextTokens, conditioning.EncoderHiddenStates, conditioning.PooledProjections);
        }

        using (var writer = new SafeTensorsWriter())
        {
            writer.AddTensor("encoder_hidden_states", [batch, t5Length, encoders.T5.Info.ModelDim], states);
            writer.AddTensor("pooled_projections", [batch, encoders.Clip.Info.HiddenSize], pooled);
            writer.Save(settings.Output);
        }

        AnsiConsole.MarkupLineInterpolated(
            $"{settings.Output}: encoder_hidden_states [[{batch}, {t5Length}, {encoders.T5.Info.ModelDim}]], pooled_projections [[{batch}, {encoders.Clip.Info.HiddenSize}]] (T5 {settings.T5Precision})");
        return 0;
    }

    // clip_input_ids [B, L_clip] and t5_input_ids [B, L_t5], I64 or I32, one B, each id an int.
    private static (int[] Clip, int[] T5, int Batch, int T5Length) ReadTokenIds(string path)
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        (int[] clip, long clipBatch, _) = ReadIds(file, ClipIdsKey);
        (int[] t5, long t5Batch, long t5Length) = ReadIds(file, T5IdsKey);
        if (clipBatch != t5Batch)
        {
            throw new SvdQuantException(StatusCode.ShapeMismatch, $"{path}: {ClipIdsKey} has {clipBatch} rows and {T5IdsKey} {t5Batch}; they must be the same batch");
        }

        return (clip, t5, checked((int)clipBatch), checked((int)t5Length));
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
