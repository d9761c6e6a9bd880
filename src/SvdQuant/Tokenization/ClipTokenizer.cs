using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace SvdQuant.Tokenization;

/// <summary>
/// CLIP's byte-level BPE tokenizer as transformers' <c>CLIPTokenizer</c> encodes a prompt for
/// FluxPipeline: text cleaned and lower-cased (<see cref="ClipTextCleaner"/>), split by CLIP's
/// pattern, each piece's UTF-8 bytes mapped to GPT-2's byte alphabet with <c>&lt;/w&gt;</c> on its
/// last symbol, merged by rank (Microsoft.ML.Tokenizers' BPE); then
/// <c>&lt;|startoftext|&gt;</c> + at most max length - 2 tokens + <c>&lt;|endoftext|&gt;</c>,
/// padded with the pad token (<c>&lt;|endoftext|&gt;</c> in FLUX.1's tokenizer) to the maximum
/// length, 77.
/// </summary>
public sealed class ClipTokenizer
{
    /// <summary>CLIP's context length, the maximum FluxPipeline uses.</summary>
    public const int DefaultMaxLength = 77;

    private const string StartOfText = "<|startoftext|>";
    private const string EndOfText = "<|endoftext|>";

    // CLIP's pre-tokenizer pattern (re.IGNORECASE in transformers).
    private static readonly Regex Pattern = new(
        @"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

    private readonly BpeTokenizer _bpe;
    private readonly int _startId;
    private readonly int _endId;
    private readonly int _padId;

    private ClipTokenizer(BpeTokenizer bpe, int startId, int endId, int padId, int maxLength)
    {
        _bpe = bpe;
        _startId = startId;
        _endId = endId;
        _padId = padId;
        MaxLength = maxLength;
    }

    /// <summary>The length of every encoding: prompts are cut or padded to it.</summary>
    public int MaxLength { get; }

    /// <summary>
    /// Loads <c>vocab.json</c> and <c>merges.txt</c> (its <c>#version</c> line skipped) from a
    /// tokenizer folder, e.g. a FLUX.1 folder's <c>tokenizer/</c>. The pad token is the folder's
    /// <c>special_tokens_map.json</c> <c>pad_token</c> when given, else <c>&lt;|endoftext|&gt;</c>.
    /// </summary>
    /// <exception cref="SvdQuantException">A missing file (<see cref="StatusCode.Io"/>) or a vocabulary that is not
    /// JSON or lacks a special token (<see cref="StatusCode.Format"/>), named.</exception>
    public static ClipTokenizer Load(string folder, int maxLength = DefaultMaxLength)
    {
        if (folder is null)
        {
            throw new ArgumentNullException(nameof(folder));
        }

        if (maxLength < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "CLIP needs room for its start and end tokens: at least 2.");
        }

        string vocabPath = TokenizerFiles.Require(folder, "vocab.json");
        string mergesPath = TokenizerFiles.Require(folder, "merges.txt");
        Dictionary<string, int> vocabulary = TokenizerFiles.ReadVocabulary(vocabPath);
        var specials = new Dictionary<string, int>
        {
            [StartOfText] = TokenizerFiles.IdOf(vocabulary, StartOfText, vocabPath),
            [EndOfText] = TokenizerFiles.IdOf(vocabulary, EndOfText, vocabPath),
        };
        string pad = TokenizerFiles.SpecialToken(folder, "pad_token") ?? EndOfText;
        var options = new BpeOptions(vocabulary)
        {
            Merges = File.ReadAllLines(mergesPath).Where(line => line.Length > 0 && !line.StartsWith("#version", StringComparison.Ordinal)),
            ByteLevel = true,
            EndOfWordSuffix = "</w>",
            Normalizer = new ClipTextCleaner(),
            PreTokenizer = new RegexPreTokenizer(Pattern, specials),
            SpecialTokens = specials,
        };
        return new ClipTokenizer(
            BpeTokenizer.Create(options), specials[StartOfText], specials[EndOfText], TokenizerFiles.IdOf(vocabulary, pad, vocabPath), maxLength);
    }

    /// <summary>Encodes one prompt; an empty prompt is start, end and padding, as the pipeline encodes "".</summary>
    public TokenizedText Encode(string prompt)
    {
        if (prompt is null)
        {
            throw new ArgumentNullException(nameof(prompt));
        }

        return TokenizedText.Fit(_bpe.EncodeToIds(prompt), [_startId], [_endId], _padId, MaxLength);
    }
}
