using System;
using System.Collections.Generic;

namespace SvdQuant.Tokenization;

/// <summary>
/// One prompt's token ids as a text encoder reads them: special tokens added, truncated and padded
/// to the tokenizer's maximum length as diffusers' FluxPipeline asks (<c>padding="max_length"</c>,
/// <c>truncation=True</c>).
/// </summary>
public sealed class TokenizedText
{
    internal TokenizedText(int[] ids, int length, int truncatedTokens)
    {
        Ids = ids;
        Length = length;
        TruncatedTokens = truncatedTokens;
    }

    /// <summary>The ids, exactly the maximum length long.</summary>
    public int[] Ids { get; }

    /// <summary>How many of <see cref="Ids"/> are the prompt's and its special tokens, before padding.</summary>
    public int Length { get; }

    /// <summary>
    /// Tokens of the prompt cut to fit the maximum length (0 when it fit). The text encoder never sees
    /// them: a caller should tell the user, as the pipeline's warning does.
    /// </summary>
    public int TruncatedTokens { get; }

    /// <summary>
    /// prefix + as many tokens as fit + suffix, padded with padId to maxLength (the prefix and
    /// suffix always fit: the tokenizers check maxLength when they load).
    /// </summary>
    internal static TokenizedText Fit(IReadOnlyList<int> tokens, int[] prefix, int[] suffix, int padId, int maxLength)
    {
        int kept = Math.Min(tokens.Count, maxLength - prefix.Length - suffix.Length);
        var ids = new int[maxLength];
        prefix.CopyTo(ids, 0);
        for (int i = 0; i < kept; i++)
        {
            ids[prefix.Length + i] = tokens[i];
        }

        int length = prefix.Length + kept + suffix.Length;
        suffix.CopyTo(ids, prefix.Length + kept);
        ids.AsSpan(length).Fill(padId);
        return new TokenizedText(ids, length, tokens.Count - kept);
    }

    /// <summary>A one-line warning naming the cut, or null when nothing was cut.</summary>
    public string? TruncationWarning(string tokenizerName) => TruncatedTokens == 0 ? null : FormattableString.Invariant(
        $"{tokenizerName}: the prompt is {TruncatedTokens} token(s) longer than the maximum of {Ids.Length}; they were cut and the text encoder does not see them.");
}
