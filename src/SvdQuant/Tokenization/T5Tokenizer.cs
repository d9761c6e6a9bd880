using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Tokenizers;

namespace SvdQuant.Tokenization;

/// <summary>
/// T5's SentencePiece unigram tokenizer as FluxPipeline calls it: the model's own normalization
/// and Viterbi segmentation (Microsoft.ML.Tokenizers' <see cref="SentencePieceTokenizer"/>), no
/// start token, at most max length - 1 tokens, then <c>&lt;/s&gt;</c>, padded with
/// <c>&lt;pad&gt;</c> to the maximum length: 512 for FLUX.1-dev, 256 for schnell.
/// </summary>
public sealed class T5Tokenizer
{
    /// <summary>FLUX.1-dev's maximum sequence length.</summary>
    public const int DefaultMaxLength = 512;

    private readonly SentencePieceTokenizer _model;
    private readonly int _padId;

    private T5Tokenizer(SentencePieceTokenizer model, int padId, int maxLength)
    {
        _model = model;
        _padId = padId;
        MaxLength = maxLength;
    }

    /// <summary>The length of every encoding: prompts are cut or padded to it.</summary>
    public int MaxLength { get; }

    /// <summary>
    /// Loads a tokenizer folder, e.g. a FLUX.1 folder's <c>tokenizer_2/</c>: <c>spiece.model</c>
    /// (SentencePiece's model file), else <c>tokenizer.json</c> (its Hugging Face form).
    /// </summary>
    /// <exception cref="SvdQuantException">Neither file exists (<see cref="StatusCode.Io"/>), or the file is not a
    /// SentencePiece model with <c>&lt;/s&gt;</c> (<see cref="StatusCode.Format"/>); named.</exception>
    public static T5Tokenizer Load(string folder, int maxLength = DefaultMaxLength)
    {
        if (folder is null)
        {
            throw new ArgumentNullException(nameof(folder));
        }

        if (maxLength < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "T5 needs room for its end token: at least 1.");
        }

        string spiece = Path.Combine(folder, "spiece.model"), json = Path.Combine(folder, "tokenizer.json");
        if (File.Exists(spiece))
        {
            return FromModelFile(SentencePieceModelFile.Read(spiece), maxLength);
        }

        if (!File.Exists(json))
        {
            throw new SvdQuantException(StatusCode.Io, $"The tokenizer folder {folder} has neither spiece.model nor tokenizer.json.");
        }

        SentencePieceTokenizer model;
        try
        {
            using FileStream stream = File.OpenRead(json);
            model = SentencePieceTokenizer.CreateFromTokenizerJson(stream, addBeginningOfSentence: false, addEndOfSentence: true);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException or System.Text.Json.JsonException)
        {
            throw new SvdQuantException(StatusCode.Format, $"{json} is not a SentencePiece tokenizer: {e.Message}");
        }

        return new T5Tokenizer(model, model.Vocabulary.TryGetValue("<pad>", out int pad) ? pad : 0, maxLength);
    }

    private static T5Tokenizer FromModelFile(SentencePieceModelFile file, int maxLength)
    {
        // The library finds the end and pad tokens by these names; T5's model file uses them.
        if (file.Pieces[file.EndId].Piece != "</s>")
        {
            throw new SvdQuantException(StatusCode.Format, $"{file.Path}: the end-of-sentence piece is \"{file.Pieces[file.EndId].Piece}\", not </s>.");
        }

        SentencePieceTokenizer model = SentencePieceTokenizer.Create(
            file.Pieces.Select(p => (p.Piece, p.Score)), file.UnknownId, addBeginningOfSentence: false, addEndOfSentence: true,
            file.PrecompiledCharsMap, file.AddDummyPrefix, file.EscapeWhitespaces, file.TreatWhitespaceAsSuffix, file.ByteFallback);
        return new T5Tokenizer(model, file.PadId >= 0 ? file.PadId : 0, maxLength);
    }

    /// <summary>Encodes one prompt; an empty prompt is <c>&lt;/s&gt;</c> and padding, as the pipeline encodes "".</summary>
    public TokenizedText Encode(string prompt)
    {
        if (prompt is null)
        {
            throw new ArgumentNullException(nameof(prompt));
        }

        IReadOnlyList<int> tokens = _model.EncodeToIds(prompt, addBeginningOfSentence: false, addEndOfSentence: false);
        return TokenizedText.Fit(tokens, [], [_model.EndOfSentenceId], _padId, MaxLength);
    }
}
