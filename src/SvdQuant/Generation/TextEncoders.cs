using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;
using SvdQuant.Models;
using SvdQuant.Tokenization;

namespace SvdQuant.Generation;

/// <summary>
/// A FLUX pipeline folder's two text encoders and tokenizers, turning a prompt into the
/// <see cref="TextConditioning"/> FluxPipeline passes to the transformer: CLIP's pooled output as
/// <c>pooled_projections</c> and T5's last hidden state as <c>encoder_hidden_states</c>. The
/// tokenizers (<c>tokenizer/</c>, <c>tokenizer_2/</c>) are read when the first prompt is encoded,
/// so given ids need none. Runs on the engine it was loaded with.
/// </summary>
public sealed class TextEncoders : IDisposable
{
    /// <summary>T5's token count for a FLUX.1-dev-style pipeline (a guidance embedding).</summary>
    public const int DevT5MaxLength = 512;

    /// <summary>T5's token count for a FLUX.1-schnell-style pipeline (no guidance embedding).</summary>
    public const int SchnellT5MaxLength = 256;

    private readonly Engine _engine;
    private readonly string _folder;
    private ClipTokenizer? _clipTokenizer;
    private T5Tokenizer? _t5Tokenizer;

    private TextEncoders(Engine engine, string folder, ClipTextEncoder clip, T5TextEncoder t5, int t5MaxLength)
    {
        _engine = engine;
        _folder = folder;
        Clip = clip;
        T5 = t5;
        ClipMaxLength = Math.Min(ClipTokenizer.DefaultMaxLength, clip.Info.MaxPositionEmbeddings);
        T5MaxLength = t5MaxLength;
    }

    /// <summary>CLIP (<c>text_encoder/</c>).</summary>
    public ClipTextEncoder Clip { get; }

    /// <summary>T5 (<c>text_encoder_2/</c>, or <see cref="TextEncoderOptions.T5File"/>).</summary>
    public T5TextEncoder T5 { get; }

    /// <summary>CLIP's token count: 77, or the model's positions when it has fewer.</summary>
    public int ClipMaxLength { get; }

    /// <summary>T5's token count (see <see cref="TextEncoderOptions.T5MaxLength"/>).</summary>
    public int T5MaxLength { get; }

    /// <summary>
    /// The last <see cref="Encode(string)"/>'s truncation warnings, one line per tokenizer that cut the prompt,
    /// naming how many tokens were cut; empty when the prompt fit. The encoders never see cut tokens.
    /// </summary>
    public IReadOnlyList<string> Warnings { get; private set; } = [];

    /// <summary>Loads the text encoders of a diffusers FLUX pipeline folder.</summary>
    /// <param name="engine">The engine that prepares the weights and runs every <see cref="Encode(string)"/>.</param>
    /// <param name="folder">The pipeline folder: <c>text_encoder/</c>, <c>text_encoder_2/</c> (unless <see cref="TextEncoderOptions.T5File"/>), and for prompts <c>tokenizer/</c> and <c>tokenizer_2/</c>.</param>
    /// <param name="options">Null for the defaults (float T5, the pipeline's T5 length).</param>
    /// <exception cref="SvdQuantException">A folder without the encoders (<see cref="StatusCode.Io"/>), a bad config or tensor (named), or a T5 precision this build lacks.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A T5 length outside [1, 512].</exception>
    public static TextEncoders Load(Engine engine, string folder, TextEncoderOptions? options = null)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        if (folder is null)
        {
            throw new ArgumentNullException(nameof(folder));
        }

        options ??= new TextEncoderOptions();
        CheckT5MaxLength(options.T5MaxLength, nameof(options));

        string clipFolder = RequireFolder(folder, "text_encoder", "CLIP");
        string t5Path = options.T5File ?? RequireFolder(folder, "text_encoder_2", "T5");
        int t5MaxLength = options.T5MaxLength ?? PipelineT5MaxLength(folder);
        ClipTextEncoder clip = ClipTextEncoder.Load(engine, clipFolder);
        try
        {
            T5TextEncoder t5 = T5TextEncoder.Load(engine, t5Path, options.T5Precision);
            return new TextEncoders(engine, folder, clip, t5, t5MaxLength);
        }
        catch
        {
            clip.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Tokenizes and encodes one prompt as FluxPipeline does (CLIP to <see cref="ClipMaxLength"/>, T5 to
    /// <see cref="T5MaxLength"/>, each padded and truncated); an empty prompt encodes as the pipeline encodes "".
    /// Truncation is reported in <see cref="Warnings"/>.
    /// </summary>
    /// <exception cref="SvdQuantException">A missing or corrupt tokenizer file, named.</exception>
    public TextConditioning Encode(string prompt)
    {
        if (prompt is null)
        {
            throw new ArgumentNullException(nameof(prompt));
        }

        _clipTokenizer ??= ClipTokenizer.Load(Path.Combine(_folder, "tokenizer"), ClipMaxLength);
        _t5Tokenizer ??= T5Tokenizer.Load(Path.Combine(_folder, "tokenizer_2"), T5MaxLength);
        TokenizedText clipIds = _clipTokenizer.Encode(prompt), t5Ids = _t5Tokenizer.Encode(prompt);
        var warnings = new List<string>(2);
        foreach (string? warning in new[] { clipIds.TruncationWarning("CLIP"), t5Ids.TruncationWarning("T5") })
        {
            if (warning is not null)
            {
                warnings.Add(warning);
            }
        }

        TextConditioning conditioning = Encode(clipIds.Ids, t5Ids.Ids);
        Warnings = warnings;
        return conditioning;
    }

    /// <summary>Encodes one prompt's given token ids (no tokenizer is read): CLIP's pooled output and T5's last hidden state.</summary>
    /// <param name="clipIds">CLIP's ids, at most the model's positions.</param>
    /// <param name="t5Ids">T5's ids; their count is the conditioning's text token count.</param>
    /// <exception cref="ArgumentException">An empty id array.</exception>
    /// <exception cref="SvdQuantException">An id outside a vocabulary or too many CLIP ids, named.</exception>
    public TextConditioning Encode(int[] clipIds, int[] t5Ids)
    {
        ClipTextOutput clip = Clip.Encode(_engine, clipIds);
        float[] states = T5.Encode(_engine, t5Ids);
        return new TextConditioning(states, t5Ids.Length, clip.Pooled);
    }

    /// <summary>Frees both encoders. Calling it again does nothing.</summary>
    public void Dispose()
    {
        Clip.Dispose();
        T5.Dispose();
    }

    // diffusers' FluxPipeline refuses a max_sequence_length above 512.
    internal static void CheckT5MaxLength(int? length, string parameter)
    {
        if (length is < 1 or > DevT5MaxLength)
        {
            throw new ArgumentOutOfRangeException(
                parameter, length, $"T5MaxLength must be in [1, {DevT5MaxLength}]: FluxPipeline's T5 takes at most {DevT5MaxLength} tokens.");
        }
    }

    private static string RequireFolder(string folder, string name, string encoder)
    {
        string path = Path.Combine(folder, name);
        return Directory.Exists(path) ? path
            : throw new SvdQuantException(StatusCode.Io, $"{folder} has no {name}/ ({encoder}); a FLUX pipeline folder has text_encoder/ and text_encoder_2/");
    }

    // FluxPipeline's max_sequence_length: 512 for dev, 256 for schnell, told apart by the guidance embedding.
    private static int PipelineT5MaxLength(string folder)
    {
        string config = Path.Combine(folder, "transformer", "config.json");
        if (!File.Exists(config))
        {
            return DevT5MaxLength;
        }

        try
        {
            using JsonDocument json = JsonDocument.Parse(File.ReadAllText(config));
            bool guidance = json.RootElement.ValueKind == JsonValueKind.Object
                && json.RootElement.TryGetProperty("guidance_embeds", out JsonElement value)
                && value.ValueKind == JsonValueKind.True;
            return guidance ? DevT5MaxLength : SchnellT5MaxLength;
        }
        catch (JsonException e)
        {
            throw new SvdQuantException(StatusCode.Format, $"{config} is not JSON: {e.Message}");
        }
    }
}
