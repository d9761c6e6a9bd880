using System;
using System.IO;
using System.Linq;
using System.Text;
using NUnit.Framework;
using SvdQuant.Tokenization;

namespace SvdQuant.Tests;

/// <summary>
/// <see cref="T5Tokenizer"/> on a SentencePiece unigram model written here in SentencePiece's
/// model format (sentencepiece_model.proto), against ids worked out by hand: whitespace collapsed,
/// a dummy "▁" prefix, "▁" for spaces, the segmentation of highest total score (Viterbi, not
/// longest match), unknown characters as &lt;unk&gt;, then &lt;/s&gt; and &lt;pad&gt; padding, truncation
/// keeping room for &lt;/s&gt;.
/// </summary>
public sealed class T5TokenizerTests
{
    // T5's special pieces first (<pad> 0, </s> 1, <unk> 2), then normal pieces with log-probabilities.
    // "▁cat": "▁ca" + "t" scores -1 - 2 = -3 and beats the longer "▁cat" (-4) and "▁c" + "at" (-8).
    private static readonly (string Piece, float Score, int Type)[] Pieces =
    [
        ("<pad>", 0, Control), ("</s>", 0, Control), ("<unk>", 0, Unknown),
        ("▁", -2, Normal), ("▁a", -3, Normal), ("▁cat", -4, Normal), ("c", -5, Normal), ("a", -5, Normal),
        ("t", -2, Normal), ("at", -3.5f, Normal), ("▁c", -4.5f, Normal), ("▁ca", -1, Normal), ("s", -5, Normal),
    ];

    private const int Normal = 1, Unknown = 2, Control = 3;

    private string _folder = null!;

    [SetUp]
    public void WriteModel()
    {
        _folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "svdq-t5-" + Guid.NewGuid().ToString("N"))).FullName;
        File.WriteAllBytes(Path.Combine(_folder, "spiece.model"), SentencePieceModel());
    }

    [TearDown]
    public void DeleteModel() => Directory.Delete(_folder, recursive: true);

    private static int Id(string piece) => Array.FindIndex(Pieces, p => p.Piece == piece);

    [Test]
    public void SegmentsByHighestScoreThenEndsAndPads()
    {
        TokenizedText text = T5Tokenizer.Load(_folder, maxLength: 8).Encode("  a   cat ");
        Assert.That(text.Ids, Is.EqualTo(new[] { Id("▁a"), Id("▁ca"), Id("t"), Id("</s>"), 0, 0, 0, 0 }));
        Assert.That(text.Length, Is.EqualTo(4));
        Assert.That(text.TruncatedTokens, Is.Zero);
    }

    [Test]
    public void UnknownCharactersAreUnk()
    {
        TokenizedText text = T5Tokenizer.Load(_folder, maxLength: 4).Encode("z");
        Assert.That(text.Ids, Is.EqualTo(new[] { Id("▁"), Id("<unk>"), Id("</s>"), 0 }));
    }

    [Test]
    public void TruncationKeepsRoomForTheEndToken()
    {
        TokenizedText text = T5Tokenizer.Load(_folder, maxLength: 3).Encode("a cat cats");
        Assert.That(text.Ids, Is.EqualTo(new[] { Id("▁a"), Id("▁ca"), Id("</s>") }));
        Assert.That(text.TruncatedTokens, Is.EqualTo(4), "t, then ▁ca t s of \"cats\"");
        Assert.That(text.TruncationWarning("T5"), Does.Contain("4 token(s)"));
    }

    [Test]
    public void EmptyPromptIsEndAndPadding()
    {
        TokenizedText text = T5Tokenizer.Load(_folder, maxLength: 3).Encode("");
        Assert.That(text.Ids, Is.EqualTo(new[] { Id("</s>"), 0, 0 }));
    }

    [Test]
    public void TokenizerJsonAloneGivesTheSameIds()
    {
        // T5TokenizerFast's tokenizer.json for the same pieces: Metaspace pre-tokenizer, runs of
        // spaces replaced, </s> appended by the post-processor template.
        File.Delete(Path.Combine(_folder, "spiece.model"));
        string vocab = string.Join(",", Pieces.Select(p => FormattableString.Invariant($"[\"{p.Piece}\",{p.Score}]")));
        File.WriteAllText(Path.Combine(_folder, "tokenizer.json"), """
            {"version":"1.0","truncation":null,"padding":null,
             "added_tokens":[{"id":0,"content":"<pad>","special":true},{"id":1,"content":"</s>","special":true},{"id":2,"content":"<unk>","special":true}],
             "normalizer":{"type":"Sequence","normalizers":[{"type":"Strip","strip_left":false,"strip_right":true},{"type":"Replace","pattern":{"Regex":" {2,}"},"content":"▁"}]},
             "pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true},
             "post_processor":{"type":"TemplateProcessing","single":[{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"</s>","type_id":0}}],"pair":[],
                               "special_tokens":{"</s>":{"id":"</s>","ids":[1],"tokens":["</s>"]}}},
             "model":{"type":"Unigram","unk_id":2,"vocab":[VOCAB],"byte_fallback":false}}
            """.Replace("VOCAB", vocab));
        TokenizedText text = T5Tokenizer.Load(_folder, maxLength: 6).Encode("  a   cat ");
        Assert.That(text.Ids, Is.EqualTo(new[] { Id("▁a"), Id("▁ca"), Id("t"), Id("</s>"), 0, 0 }));
    }

    [Test]
    public void AFolderWithoutAModelOrWithACorruptOneIsNamed()
    {
        File.Delete(Path.Combine(_folder, "spiece.model"));
        var missing = Assert.Throws<SvdQuantException>(() => T5Tokenizer.Load(_folder))!;
        Assert.That(missing.Status, Is.EqualTo(StatusCode.Io));
        Assert.That(missing.Message, Does.Contain("spiece.model").And.Contain("tokenizer.json"));

        File.WriteAllBytes(Path.Combine(_folder, "spiece.model"), [0xFF, 0xFF, 0xFF]);
        var corrupt = Assert.Throws<SvdQuantException>(() => T5Tokenizer.Load(_folder))!;
        Assert.That(corrupt.Status, Is.EqualTo(StatusCode.Format));
        Assert.That(corrupt.Message, Does.Contain("spiece.model"));
    }

    // ModelProto: pieces = 1 {piece = 1, score = 2, type = 3}; trainer_spec = 2 {model_type = 3
    // (UNIGRAM = 1), unk_id = 40, bos_id = 41, eos_id = 42, pad_id = 43}; normalizer_spec = 3
    // {name = 1, add_dummy_prefix = 3, remove_extra_whitespaces = 4, escape_whitespaces = 5}.
    private static byte[] SentencePieceModel()
    {
        var model = new MemoryStream();
        foreach ((string piece, float score, int type) in Pieces)
        {
            var entry = new MemoryStream();
            WriteBytes(entry, 1, Encoding.UTF8.GetBytes(piece));
            WriteTag(entry, 2, 5);
            entry.Write(BitConverter.GetBytes(score), 0, 4);
            WriteInt(entry, 3, type);
            WriteBytes(model, 1, entry.ToArray());
        }

        var trainer = new MemoryStream();
        WriteInt(trainer, 3, 1);
        WriteInt(trainer, 4, Pieces.Length);
        WriteInt(trainer, 40, Id("<unk>"));
        WriteInt(trainer, 41, -1);
        WriteInt(trainer, 42, Id("</s>"));
        WriteInt(trainer, 43, Id("<pad>"));
        WriteBytes(model, 2, trainer.ToArray());

        var normalizer = new MemoryStream();
        WriteBytes(normalizer, 1, Encoding.UTF8.GetBytes("identity"));
        WriteInt(normalizer, 3, 1);
        WriteInt(normalizer, 4, 1);
        WriteInt(normalizer, 5, 1);
        WriteBytes(model, 3, normalizer.ToArray());
        return model.ToArray();
    }

    private static void WriteTag(Stream s, int field, int wireType) => WriteVarint(s, (ulong)((field << 3) | wireType));

    private static void WriteInt(Stream s, int field, long value)
    {
        WriteTag(s, field, 0);
        WriteVarint(s, unchecked((ulong)value));  // negative int32: ten bytes, as protobuf writes it
    }

    private static void WriteBytes(Stream s, int field, byte[] bytes)
    {
        WriteTag(s, field, 2);
        WriteVarint(s, (ulong)bytes.Length);
        s.Write(bytes, 0, bytes.Length);
    }

    private static void WriteVarint(Stream s, ulong value)
    {
        for (; value >= 0x80; value >>= 7)
        {
            s.WriteByte((byte)(value | 0x80));
        }

        s.WriteByte((byte)value);
    }
}
