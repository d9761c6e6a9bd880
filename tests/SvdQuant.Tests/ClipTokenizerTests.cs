using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using NUnit.Framework;
using SvdQuant.Tokenization;

namespace SvdQuant.Tests;

/// <summary>
/// <see cref="ClipTokenizer"/> on a small vocabulary written here, against ids worked out by hand
/// from CLIPTokenizer's published steps: cleaning and lower-casing, CLIP's split pattern, GPT-2's
/// byte alphabet, <c>&lt;/w&gt;</c> on a word's last symbol, merges applied lowest rank first,
/// start and end tokens, truncation and padding to the maximum length.
/// </summary>
public sealed class ClipTokenizerTests
{
    // Merges by rank. "photo": p h o t o</w> -> (p h) -> ph o t o</w> -> (ph o, rank 5, beats
    // t o</w>, rank 6) -> pho t o</w> -> pho to</w>; no merge joins those. "cat": c a t</w> ->
    // (a t</w>) -> c at</w> -> cat</w>.
    private static readonly string[] Merges = ["p h", "a t</w>", "o f</w>", "c at</w>", "ph o", "t o</w>", "' s</w>"];

    private static readonly string[] Symbols =
    [
        "<|startoftext|>", "<|endoftext|>", "!", "'", "a", "c", "f", "h", "o", "p", "s", "t", "Ã", "©",
        "!</w>", "a</w>", "f</w>", "o</w>", "s</w>", "t</w>", "©</w>",
        "ph", "at</w>", "of</w>", "cat</w>", "pho", "to</w>", "'s</w>",
    ];

    private string _folder = null!;

    private static Dictionary<string, int> Vocabulary => Symbols.Select((s, i) => (s, i)).ToDictionary(p => p.s, p => p.i);

    [SetUp]
    public void WriteTokenizer()
    {
        _folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "svdq-clip-" + Guid.NewGuid().ToString("N"))).FullName;
        File.WriteAllText(Path.Combine(_folder, "vocab.json"), JsonSerializer.Serialize(Vocabulary));
        File.WriteAllLines(Path.Combine(_folder, "merges.txt"), new[] { "#version: 0.2" }.Concat(Merges));
    }

    [TearDown]
    public void DeleteTokenizer() => Directory.Delete(_folder, recursive: true);

    private static int[] Ids(params string[] tokens) => tokens.Select(t => Vocabulary[t]).ToArray();

    [Test]
    public void EncodesAsClipTokenizer()
    {
        ClipTokenizer tokenizer = ClipTokenizer.Load(_folder, maxLength: 12);
        TokenizedText text = tokenizer.Encode("  A\tPHOTO of\n a CAT's !  ");
        int[] expected = Ids("<|startoftext|>", "a</w>", "pho", "to</w>", "of</w>", "a</w>", "cat</w>", "'s</w>", "!</w>", "<|endoftext|>");
        Assert.That(text.Ids.Take(expected.Length), Is.EqualTo(expected));
        Assert.That(text.Ids.Skip(expected.Length), Is.All.EqualTo(Vocabulary["<|endoftext|>"]), "padded with the pad token");
        Assert.That(text.Ids, Has.Length.EqualTo(12));
        Assert.That(text.Length, Is.EqualTo(expected.Length));
        Assert.That(text.TruncatedTokens, Is.Zero);
        Assert.That(text.TruncationWarning("CLIP"), Is.Null);
    }

    [Test]
    public void MapsUtf8BytesToGpt2sAlphabet()
    {
        // é is C3 A9: bytes >= 0xA1 (but 0xAD) stand for themselves, so "Ã" then "©</w>".
        TokenizedText text = ClipTokenizer.Load(_folder, maxLength: 4).Encode("é");
        Assert.That(text.Ids, Is.EqualTo(Ids("<|startoftext|>", "Ã", "©</w>", "<|endoftext|>")));
    }

    [Test]
    public void CleaningDropsControlCharactersAndSetsCjkApart()
    {
        var cleaner = new ClipTextCleaner();
        Assert.That(cleaner.Normalize("C\u0000A\u200BT\uFFFD"), Is.EqualTo("cat"), "NUL, a format character and U+FFFD dropped");
        Assert.That(cleaner.Normalize("\u732Bcat\u3000DOG"), Is.EqualTo("\u732B cat dog"), "an ideograph set apart, ideographic space is a space");
        Assert.That(cleaner.Normalize("Cafe\u0301"), Is.EqualTo("caf\u00E9"), "NFC");
    }

    [Test]
    public void TruncatesToTheMaximumAndCountsTheCut()
    {
        TokenizedText text = ClipTokenizer.Load(_folder, maxLength: 5).Encode("a photo of a cat");
        Assert.That(text.Ids, Is.EqualTo(Ids("<|startoftext|>", "a</w>", "pho", "to</w>", "<|endoftext|>")));
        Assert.That(text.TruncatedTokens, Is.EqualTo(3), "of, a, cat cut");
        Assert.That(text.TruncationWarning("CLIP"), Does.Contain("3 token(s)").And.Contain("maximum of 5"));
    }

    [Test]
    public void EmptyPromptIsStartEndAndPadding()
    {
        TokenizedText text = ClipTokenizer.Load(_folder, maxLength: 4).Encode("");
        Assert.That(text.Ids, Is.EqualTo(Ids("<|startoftext|>", "<|endoftext|>", "<|endoftext|>", "<|endoftext|>")));
        Assert.That(text.Length, Is.EqualTo(2));
    }

    [Test]
    public void PadTokenComesFromSpecialTokensMap()
    {
        File.WriteAllText(Path.Combine(_folder, "special_tokens_map.json"), "{\"pad_token\": {\"content\": \"!\", \"lstrip\": false}}");
        TokenizedText text = ClipTokenizer.Load(_folder, maxLength: 4).Encode("");
        Assert.That(text.Ids, Is.EqualTo(Ids("<|startoftext|>", "<|endoftext|>", "!", "!")));
    }

    [Test]
    public void MissingOrBadFilesAreNamed()
    {
        File.Delete(Path.Combine(_folder, "merges.txt"));
        var missing = Assert.Throws<SvdQuantException>(() => ClipTokenizer.Load(_folder))!;
        Assert.That(missing.Status, Is.EqualTo(StatusCode.Io));
        Assert.That(missing.Message, Does.Contain("merges.txt"));

        File.WriteAllLines(Path.Combine(_folder, "merges.txt"), Merges);
        File.WriteAllText(Path.Combine(_folder, "vocab.json"), "{\"a\": 0}");
        var noSpecial = Assert.Throws<SvdQuantException>(() => ClipTokenizer.Load(_folder))!;
        Assert.That(noSpecial.Status, Is.EqualTo(StatusCode.Format));
        Assert.That(noSpecial.Message, Does.Contain("vocab.json").And.Contain("<|startoftext|>"));

        File.WriteAllText(Path.Combine(_folder, "vocab.json"), "[1, 2");
        Assert.That(Assert.Throws<SvdQuantException>(() => ClipTokenizer.Load(_folder))!.Message, Does.Contain("not a JSON object"));
    }
}
