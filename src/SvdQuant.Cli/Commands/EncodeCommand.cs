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

        if (settings.MaxLength is < 1 or > TextEncoders.DevT5MaxLength)
        {
            return Fail($"--max-length {settings.MaxLength} must be in [1, {TextEncoders.DevT5MaxLength}] (FLUX's T5 takes at most {TextEncoders.DevT5MaxLength} tokens)");
        }

        CheckOutput(settings.Output, settings.Model, settings.TokenIds);
        using var engine = new Engine(settings.NewEngineOptions());
        using TextEncoders encoders = TextEncoders.Load(
            engine, settings.Model, new TextEncoderOptions { T5Precision = precision, T5MaxLength = settings.MaxLength });

        int batch, t5Length;
        float[] states, pooled;
        if (settings.TokenIds is not null)
        {
            TokenIdsFile ids = TokenIdsFile.Read(settings.TokenIds);
            (batch, t5Length) = (ids.Batch, ids.T5Length);
            pooled = encoders.Clip.Encode(engine, ids.Clip, batch).Pooled;
            states = encoders.T5.Encode(engine, ids.T5, batch);
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
}
