using System;
using System.Globalization;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace SvdQuant.Tokenization;

/// <summary>
/// CLIP's text cleaning as transformers' <c>CLIPTokenizer</c> does it without ftfy (its
/// <c>BasicTokenizer(do_lower_case=True, strip_accents=False, do_split_on_punc=False)</c>): NUL,
/// U+FFFD and other control characters removed; whitespace (tab, newline, Unicode Zs) turned into
/// spaces; CJK ideographs set apart by spaces; NFC; words split on whitespace, lower-cased and
/// joined by single spaces.
/// </summary>
internal sealed class ClipTextCleaner : Normalizer
{
    public override string Normalize(string original) => Clean(original);

    public override string Normalize(ReadOnlySpan<char> original) => Clean(original.ToString());

    private static string Clean(string text)
    {
        var cleaned = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length; i += char.IsSurrogatePair(text, i) ? 2 : 1)
        {
            int cp = char.ConvertToUtf32(text, i);
            if (cp == 0 || cp == 0xFFFD || IsControl(text, i))
            {
                continue;
            }

            if (IsWhitespace(text, i))
            {
                cleaned.Append(' ');
            }
            else if (IsCjkIdeograph(cp))
            {
                cleaned.Append(' ').Append(char.ConvertFromUtf32(cp)).Append(' ');
            }
            else
            {
                cleaned.Append(char.ConvertFromUtf32(cp));
            }
        }

        // Python's str.split(): runs of any whitespace (here also U+2028 and U+2029, which stay).
        string normalized = cleaned.ToString().Normalize(NormalizationForm.FormC);
        var words = new StringBuilder(normalized.Length);
        foreach (char c in normalized)
        {
            if (!char.IsWhiteSpace(c))
            {
                words.Append(c);
            }
            else if (words.Length > 0 && words[words.Length - 1] != ' ')
            {
                words.Append(' ');
            }
        }

        return words.ToString().TrimEnd(' ').ToLowerInvariant();
    }

    // Tab, newline and carriage return count as whitespace, not control.
    private static bool IsWhitespace(string text, int i) =>
        text[i] is ' ' or '\t' or '\n' or '\r' || CharUnicodeInfo.GetUnicodeCategory(text, i) == UnicodeCategory.SpaceSeparator;

    private static bool IsControl(string text, int i) =>
        text[i] is not ('\t' or '\n' or '\r') && CharUnicodeInfo.GetUnicodeCategory(text, i) is UnicodeCategory.Control
            or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;

    // The CJK Unified Ideographs blocks BERT's _is_chinese_char lists.
    private static bool IsCjkIdeograph(int cp) =>
        cp is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF) or (>= 0x20000 and <= 0x2A6DF)
            or (>= 0x2A700 and <= 0x2B73F) or (>= 0x2B740 and <= 0x2B81F) or (>= 0x2B820 and <= 0x2CEAF)
            or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);
}
