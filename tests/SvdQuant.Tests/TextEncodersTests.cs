using System;
using System.IO;
using System.Linq;
using NUnit.Framework;
using SvdQuant.Generation;
using SvdQuant.Models;
using SvdQuant.Tokenization;
using static SvdQuant.Tests.TinyTextPipeline;

namespace SvdQuant.Tests;

/// <summary>
/// <see cref="TextEncoders"/>, <see cref="ClipTextEncoder"/> and <see cref="T5TextEncoder"/> on a tiny pipeline folder
/// written here (<see cref="TinyTextPipeline"/>): a prompt encodes as its tokenizers' ids do, bit for bit; CLIP's
/// pooled output is its last hidden state at the EOS; with zero block outputs both encoders match the embedding and
/// final-norm math written here; T5's length follows the pipeline; truncation is reported; bad folders are named.
/// The encoders' full math is checked against float64 in the native tests (test_clip_text_model, test_t5_encoder).
/// </summary>
public sealed class TextEncodersTests
{
    private const string Prompt = "a photo of a cat";

    private string _folder = null!;

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("svdq-text-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public void APrompt_EncodesAsItsTokenizersIds_BitForBit()
    {
        Write(_folder);
        using var engine = new Engine();
        using TextEncoders encoders = TextEncoders.Load(engine, _folder);
        TokenizedText clipIds = ClipTokenizer.Load(Path.Combine(_folder, "tokenizer"), ClipPositions).Encode(Prompt);
        TokenizedText t5Ids = T5Tokenizer.Load(Path.Combine(_folder, "tokenizer_2"), TextEncoders.DevT5MaxLength).Encode(Prompt);

        TextConditioning fromPrompt = encoders.Encode(Prompt);
        TextConditioning fromIds = encoders.Encode(clipIds.Ids, t5Ids.Ids);

        Assert.Multiple(() =>
        {
            Assert.That(encoders.ClipMaxLength, Is.EqualTo(ClipPositions), "77, cut to the model's positions");
            Assert.That(fromPrompt.TextTokens, Is.EqualTo(TextEncoders.DevT5MaxLength));
            Assert.That(fromPrompt.TextWidth, Is.EqualTo(T5Model));
            Assert.That(fromPrompt.PooledProjections, Has.Length.EqualTo(ClipHidden));
            Assert.That(fromPrompt.EncoderHiddenStates, Is.EqualTo(fromIds.EncoderHiddenStates));
            Assert.That(fromPrompt.PooledProjections, Is.EqualTo(fromIds.PooledProjections));
            Assert.That(fromPrompt.EncoderHiddenStates, Is.EqualTo(encoders.T5.Encode(engine, t5Ids.Ids)), "T5's last hidden state");
            Assert.That(fromPrompt.PooledProjections, Is.EqualTo(encoders.Clip.Encode(engine, clipIds.Ids).Pooled), "CLIP's pooled output");
            Assert.That(encoders.Warnings, Is.Empty);
        });

        // Another prompt gives other values: the ids reach the encoders.
        TextConditioning other = encoders.Encode("a cat");
        Assert.That(other.PooledProjections, Is.Not.EqualTo(fromPrompt.PooledProjections));
        Assert.That(other.EncoderHiddenStates, Is.Not.EqualTo(fromPrompt.EncoderHiddenStates));
    }

    [Test]
    public void ClipPools_TheLastHiddenStateAtTheEosPosition()
    {
        Write(_folder);
        using var engine = new Engine();
        using TextEncoders encoders = TextEncoders.Load(engine, _folder);
        // Two rows of different lengths: each pools at its own EOS (eos_token_id 2: the first largest id).
        ClipTokenizer tokenizer = ClipTokenizer.Load(Path.Combine(_folder, "tokenizer"), ClipPositions);
        TokenizedText first = tokenizer.Encode(Prompt), second = tokenizer.Encode("cat");
        ClipTextOutput output = encoders.Clip.Encode(engine, [.. first.Ids, .. second.Ids], batch: 2);

        Assert.That(first.Length, Is.Not.EqualTo(second.Length));
        foreach ((int row, TokenizedText text) in new[] { (0, first), (1, second) })
        {
            int eos = text.Length - 1;
            float[] expected = output.LastHiddenState.AsSpan((row * ClipPositions + eos) * ClipHidden, ClipHidden).ToArray();
            float[] pooled = output.Pooled.AsSpan(row * ClipHidden, ClipHidden).ToArray();
            Assert.That(pooled, Is.EqualTo(expected), $"row {row}: the state at its EOS, position {eos}");
            float[] afterEos = output.LastHiddenState.AsSpan((row * ClipPositions + eos + 1) * ClipHidden, ClipHidden).ToArray();
            Assert.That(pooled, Is.Not.EqualTo(afterEos), "the padding after it (the same id) is another state");
        }
    }

    [Test]
    public void WithZeroBlockOutputs_BothEncodersAreTheirEmbeddingsThroughTheFinalNorm()
    {
        var tensors = Write(_folder, zeroBlocks: true);
        using var engine = new Engine();
        using TextEncoders encoders = TextEncoders.Load(engine, _folder);
        int[] clipIds = [0, 5, 20, 3, 27, 27, 9], t5Ids = [4, 11, 8, 1, 0, 0];
        ClipTextOutput clip = encoders.Clip.Encode(engine, clipIds);
        float[] t5 = encoders.T5.Encode(engine, t5Ids);

        // CLIP: LayerNorm_final(token_embedding[id] + position_embedding[p]); T5: RMSNorm_final(shared[id]).
        float[] token = tensors["clip/text_model.embeddings.token_embedding.weight"], position = tensors["clip/text_model.embeddings.position_embedding.weight"];
        double[] clipExpected = new double[clipIds.Length * ClipHidden];
        for (int p = 0; p < clipIds.Length; p++)
        {
            double[] x = Enumerable.Range(0, ClipHidden).Select(j => (double)token[clipIds[p] * ClipHidden + j] + position[p * ClipHidden + j]).ToArray();
            double mean = x.Average(), variance = x.Select(v => (v - mean) * (v - mean)).Average();
            for (int j = 0; j < ClipHidden; j++)
            {
                clipExpected[p * ClipHidden + j] = (x[j] - mean) / Math.Sqrt(variance + ClipEps) * tensors["clip/text_model.final_layer_norm.weight"][j]
                    + tensors["clip/text_model.final_layer_norm.bias"][j];
            }
        }

        float[] shared = tensors["t5/shared.weight"], norm = tensors["t5/encoder.final_layer_norm.weight"];
        double[] t5Expected = new double[t5Ids.Length * T5Model];
        for (int p = 0; p < t5Ids.Length; p++)
        {
            double[] x = Enumerable.Range(0, T5Model).Select(j => (double)shared[t5Ids[p] * T5Model + j]).ToArray();
            double rms = Math.Sqrt(x.Select(v => v * v).Average() + T5Eps);
            for (int j = 0; j < T5Model; j++)
            {
                t5Expected[p * T5Model + j] = x[j] / rms * norm[j];
            }
        }

        // Float32 rounding of one norm: measured 7.0e-8 (CLIP) and 6.3e-8 (T5) of the largest value at every CPU
        // level, about one float32 ulp; the bound allows three. A dropped position embedding or a shifted id moves
        // values by order 1, LayerNorm's eps 1e-6 for 1e-5 by ~7e-6 (eps / (2 var), var ~ 2/3).
        Assert.Multiple(() =>
        {
            Assert.That(MaxRelative(clip.LastHiddenState, clipExpected), Is.LessThan(2e-7), "CLIP");
            Assert.That(MaxRelative(clip.Pooled, clipExpected.AsSpan(4 * ClipHidden, ClipHidden).ToArray()), Is.LessThan(2e-7), "CLIP pooled at the first 27");
            Assert.That(MaxRelative(t5, t5Expected), Is.LessThan(2e-7), "T5");
        });
    }

    [TestCase(true, null, TextEncoders.DevT5MaxLength)]
    [TestCase(false, null, TextEncoders.SchnellT5MaxLength)]
    [TestCase(false, 7, 7)]
    public void T5Length_FollowsThePipelineOrTheOption(bool guidanceEmbeds, int? given, int expected)
    {
        Write(_folder, guidanceEmbeds);
        using var engine = new Engine();
        using TextEncoders encoders = TextEncoders.Load(engine, _folder, new TextEncoderOptions { T5MaxLength = given });
        Assert.That(encoders.T5MaxLength, Is.EqualTo(expected));
        Assert.That(encoders.Encode(Prompt).TextTokens, Is.EqualTo(expected));
    }

    [TestCase(0)]
    [TestCase(TextEncoders.DevT5MaxLength + 1)]
    public void AT5LengthOutside1To512_IsRefusedAtLoad(int given)
    {
        Write(_folder);
        using var engine = new Engine();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => TextEncoders.Load(engine, _folder, new TextEncoderOptions { T5MaxLength = given }))!;
        Assert.That(e.Message, Does.Contain("T5MaxLength must be in [1, 512]"));
    }

    [Test]
    public void AFolderWithoutATransformerConfig_TakesDevsLength()
    {
        Write(_folder, guidanceEmbeds: false);
        Directory.Delete(Path.Combine(_folder, "transformer"), recursive: true);
        using var engine = new Engine();
        using TextEncoders encoders = TextEncoders.Load(engine, _folder);
        Assert.That(encoders.T5MaxLength, Is.EqualTo(TextEncoders.DevT5MaxLength));
    }

    [Test]
    public void TruncationIsReported_AndAnEmptyPromptEncodes()
    {
        Write(_folder);
        using var engine = new Engine();
        using TextEncoders encoders = TextEncoders.Load(engine, _folder, new TextEncoderOptions { T5MaxLength = 3 });

        // T5 keeps 2 of "▁a ▁ca t ▁ca t" (room for </s>): 3 cut; CLIP (16) keeps all.
        encoders.Encode("a cat cat");
        Assert.That(encoders.Warnings, Has.Count.EqualTo(1));
        Assert.That(encoders.Warnings[0], Does.StartWith("T5:").And.Contain("3 token(s)"));

        TextConditioning empty = encoders.Encode("");
        Assert.That(encoders.Warnings, Is.Empty, "the last encode's warnings only");
        TokenizedText clipIds = ClipTokenizer.Load(Path.Combine(_folder, "tokenizer"), ClipPositions).Encode("");
        TokenizedText t5Ids = T5Tokenizer.Load(Path.Combine(_folder, "tokenizer_2"), 3).Encode("");
        Assert.That(empty.PooledProjections, Is.EqualTo(encoders.Encode(clipIds.Ids, t5Ids.Ids).PooledProjections));
    }

    [Test]
    public void GivenIds_NeedNoTokenizer()
    {
        Write(_folder);
        Directory.Delete(Path.Combine(_folder, "tokenizer"), recursive: true);
        using var engine = new Engine();
        using TextEncoders encoders = TextEncoders.Load(engine, _folder);
        Assert.That(encoders.Encode([0, 3, 27], [4, 1]).TextTokens, Is.EqualTo(2));

        var missing = Assert.Throws<SvdQuantException>(() => encoders.Encode(Prompt))!;
        Assert.That(missing.Status, Is.EqualTo(StatusCode.Io));
        Assert.That(missing.Message, Does.Contain("vocab.json"));
    }

    [Test]
    public void BadFoldersAndIds_AreNamed()
    {
        Write(_folder);
        using var engine = new Engine();
        using (TextEncoders encoders = TextEncoders.Load(engine, _folder))
        {
            var outside = Assert.Throws<SvdQuantException>(() => encoders.Encode([0, ClipVocab], [1]))!;
            Assert.That(outside.Message, Does.Contain($"token id {ClipVocab} at flat index 1 is outside the vocabulary of {ClipVocab}"));
            Assert.Throws<ArgumentException>(() => encoders.Encode([], [1]));
            Assert.Throws<ArgumentException>(() => encoders.Clip.Encode(engine, [1, 2, 3], batch: 2));
        }

        File.WriteAllText(Path.Combine(_folder, "text_encoder", "config.json"), ClipConfig(intermediateSize: ClipFf + 1));
        var mismatch = Assert.Throws<SvdQuantException>(() => TextEncoders.Load(engine, _folder))!;
        Assert.That(mismatch.Status, Is.EqualTo(StatusCode.ShapeMismatch));
        Assert.That(mismatch.Message, Does.Contain($"'text_model.encoder.layers.0.mlp.fc1.weight' has shape [{ClipFf}, {ClipHidden}], the config needs [{ClipFf + 1}, {ClipHidden}]"));

        Directory.Delete(Path.Combine(_folder, "text_encoder_2"), recursive: true);
        var noT5 = Assert.Throws<SvdQuantException>(() => TextEncoders.Load(engine, _folder))!;
        Assert.That(noT5.Status, Is.EqualTo(StatusCode.Io));
        Assert.That(noT5.Message, Does.Contain("text_encoder_2/"));
    }

    [Test]
    public void W4A16T5_OnLayersNarrowerThanAGroup_IsRefusedByName()
    {
        // d_model 16 is below INT4's group of 64 along K (FluxPipelineTests load a T5 whose widths hold whole groups).
        Write(_folder);
        using var engine = new Engine();
        var refused = Assert.Throws<SvdQuantException>(() => TextEncoders.Load(engine, _folder, new TextEncoderOptions { T5Precision = LinearScheme.W4A16 }))!;
        Assert.That(refused.Status, Is.EqualTo(StatusCode.ShapeMismatch));
        Assert.That(refused.Message, Does.Contain("'encoder.block.0.layer.0.SelfAttention.q' has 16 inputs; W4A16 needs a multiple of 64"));
    }

    private static double MaxRelative(float[] actual, double[] expected)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length));
        double scale = expected.Max(Math.Abs), worst = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]) / scale);
        }

        return worst;
    }
}
