using System;
using System.IO;
using System.Linq;
using NUnit.Framework;
using SvdQuant.Formats;
using SvdQuant.Generation;
using SvdQuant.Tokenization;
using static SvdQuant.Tests.TinyTextPipeline;

namespace SvdQuant.Tests;

/// <summary>
/// `svdquant encode` on a tiny pipeline folder in a child process: --prompt and --token-ids give the same file for
/// the same ids, equal to the managed API's and loadable as generate's --embeddings; batches of ids; an empty prompt;
/// the truncation warning; each bad input one line, exit code 2 and no file.
/// </summary>
public sealed class CliEncodeTests : CliFixture
{
    private const string Prompt = "a photo of a cat";

    private string Pipeline()
    {
        string folder = TempPath("pipeline");
        if (!Directory.Exists(folder))
        {
            TinyTextPipeline.Write(folder);
        }

        return folder;
    }

    private string WriteIds(string name, TensorDType clipType, int[] clip, TensorDType t5Type, int[] t5, int rows = 1)
    {
        string path = TempPath(name);
        using var writer = new SafeTensorsWriter();
        AddIds(writer, "clip_input_ids", clipType, clip, rows);
        AddIds(writer, "t5_input_ids", t5Type, t5, rows);
        writer.Save(path);
        return path;
    }

    private (int[] Clip, int[] T5) TokenizerIds(string prompt, int t5Length = TextEncoders.DevT5MaxLength) =>
        (ClipTokenizer.Load(Path.Combine(Pipeline(), "tokenizer"), ClipPositions).Encode(prompt).Ids,
         T5Tokenizer.Load(Path.Combine(Pipeline(), "tokenizer_2"), t5Length).Encode(prompt).Ids);

    [Test]
    public void PromptAndTokenIds_WriteTheSameEmbeddings_OfTheManagedApi()
    {
        string fromPrompt = TempPath("prompt.safetensors"), fromIds = TempPath("ids.safetensors");
        (int[] clip, int[] t5) = TokenizerIds(Prompt);
        string ids = WriteIds("ids-in.safetensors", TensorDType.I64, clip, TensorDType.I32, t5);

        AssertSucceeded(Run("encode", "--model", Pipeline(), "--prompt", Prompt, "--output", fromPrompt));
        AssertSucceeded(Run("encode", "--model", Pipeline(), "--token-ids", ids, "--output", fromIds));

        TextConditioning expected;
        using (var engine = new Engine())
        using (TextEncoders encoders = TextEncoders.Load(engine, Pipeline()))
        {
            expected = encoders.Encode(Prompt);
        }

        foreach (string path in new[] { fromPrompt, fromIds })
        {
            using (SafeTensorsFile file = SafeTensorsFile.Open(path))
            {
                Assert.That(file.Tensors.Select(t => t.ToString()), Is.EquivalentTo(new[]
                {
                    $"encoder_hidden_states F32 [1, {TextEncoders.DevT5MaxLength}, {T5Model}]", $"pooled_projections F32 [1, {ClipHidden}]",
                }), path);
            }

            TextConditioning loaded = TextConditioning.Load(path);  // as generate --embeddings reads it
            Assert.That(loaded.EncoderHiddenStates, Is.EqualTo(expected.EncoderHiddenStates), path);
            Assert.That(loaded.PooledProjections, Is.EqualTo(expected.PooledProjections), path);
        }
    }

    [Test]
    public void ABatchOfIds_EncodesEachRowAsAlone()
    {
        (int[] clipA, int[] t5A) = TokenizerIds(Prompt, 12);
        (int[] clipB, int[] t5B) = TokenizerIds("cat", 12);
        string both = TempPath("both.safetensors"), alone = TempPath("alone.safetensors");
        AssertSucceeded(Run("encode", "--model", Pipeline(), "--token-ids",
            WriteIds("b.safetensors", TensorDType.I32, [.. clipA, .. clipB], TensorDType.I64, [.. t5A, .. t5B], rows: 2), "--output", both));
        AssertSucceeded(Run("encode", "--model", Pipeline(), "--token-ids",
            WriteIds("a.safetensors", TensorDType.I32, clipB, TensorDType.I64, t5B), "--output", alone));

        using SafeTensorsFile batch = SafeTensorsFile.Open(both), single = SafeTensorsFile.Open(alone);
        Assert.That(batch.GetTensor("encoder_hidden_states").Shape, Is.EqualTo(new long[] { 2, 12, T5Model }));
        Assert.That(batch.GetTensor("pooled_projections").Shape, Is.EqualTo(new long[] { 2, ClipHidden }));
        Assert.That(batch.ReadFloats("encoder_hidden_states").Skip(12 * T5Model), Is.EqualTo(single.ReadFloats("encoder_hidden_states")));
        Assert.That(batch.ReadFloats("pooled_projections").Skip(ClipHidden), Is.EqualTo(single.ReadFloats("pooled_projections")));
        Assert.That(batch.ReadFloats("pooled_projections").Take(ClipHidden), Is.Not.EqualTo(single.ReadFloats("pooled_projections")));
    }

    [Test]
    public void AnEmptyPrompt_AndATruncatedOne_Encode()
    {
        string empty = TempPath("empty.safetensors"), cut = TempPath("cut.safetensors");
        AssertSucceeded(Run("encode", "--model", Pipeline(), "--prompt", "", "--output", empty, "--max-length", "4"));
        Assert.That(TextConditioning.Load(empty).TextTokens, Is.EqualTo(4));

        CliResult result = Run("encode", "--model", Pipeline(), "--prompt", "a cat cat", "--output", cut, "--max-length", "3");
        AssertSucceeded(result);
        Assert.That(result.Errors, Does.Contain("warning: T5:").And.Contain("3 token(s)"));
        Assert.That(TextConditioning.Load(cut).TextTokens, Is.EqualTo(3));
    }

    [Test]
    public void BadInput_IsOneLineExitCode2AndNoFile()
    {
        string output = TempPath("out.safetensors"), empty = Directory.CreateDirectory(TempPath("empty")).FullName;
        (int[] clip, int[] t5) = TokenizerIds(Prompt, 8);
        string good = WriteIds("good.safetensors", TensorDType.I64, clip, TensorDType.I64, t5);
        string[] Encode(params string[] extra) => ["encode", "--model", Pipeline(), "--output", output, .. extra];

        AssertRejected(Run("encode", "--model", empty, "--prompt", Prompt, "--output", output), empty, "text_encoder/");
        AssertRejected(Run(Encode("--prompt", Prompt, "--token-ids", good)), "exactly one of --prompt and --token-ids");
        AssertRejected(Run(Encode()), "exactly one of --prompt and --token-ids");
        AssertRejected(Run(Encode("--prompt", Prompt, "--t5-precision", "int8")), "--t5-precision", "int8");
        AssertRejected(Run(Encode("--token-ids", good, "--max-length", "8")), "--max-length");
        AssertRejected(Run(Encode("--prompt", Prompt, "--max-length", "513")), "--max-length 513 must be in [1, 512]");

        // Ids outside the vocabulary, of the wrong key, dtype or rank, or of two batch sizes.
        int[] outside = [.. clip];
        outside[2] = ClipVocab + 3;
        AssertRejected(Run(Encode("--token-ids", WriteIds("o.safetensors", TensorDType.I64, outside, TensorDType.I64, t5))),
            $"token id {ClipVocab + 3} at flat index 2 is outside the vocabulary of {ClipVocab}");
        string noT5 = TempPath("k.safetensors");
        using (var writer = new SafeTensorsWriter())
        {
            AddIds(writer, "clip_input_ids", TensorDType.I64, clip, 1);
            AddIds(writer, "t5_ids", TensorDType.I64, t5, 1);
            writer.Save(noT5);
        }

        AssertRejected(Run(Encode("--token-ids", noT5)), "missing tensor 't5_input_ids'");
        string floats = TempPath("f.safetensors");
        using (var writer = new SafeTensorsWriter())
        {
            writer.AddTensor("clip_input_ids", [1, clip.Length], clip.Select(i => (float)i).ToArray());
            AddIds(writer, "t5_input_ids", TensorDType.I64, t5, 1);
            writer.Save(floats);
        }

        AssertRejected(Run(Encode("--token-ids", floats)), "clip_input_ids is F32; token ids are I64 or I32");
        string flat = TempPath("r.safetensors");
        using (var writer = new SafeTensorsWriter())
        {
            AddIds(writer, "clip_input_ids", TensorDType.I64, clip, 1);
            writer.AddTensor("t5_input_ids", TensorDType.I32, [t5.Length], System.Runtime.InteropServices.MemoryMarshal.AsBytes(t5.AsSpan()));
            writer.Save(flat);
        }

        AssertRejected(Run(Encode("--token-ids", flat)), $"t5_input_ids is [{t5.Length}]; token ids are [B, L]");
        string twoBatches = TempPath("two.safetensors");
        using (var writer = new SafeTensorsWriter())
        {
            AddIds(writer, "clip_input_ids", TensorDType.I64, [.. clip, .. clip], 2);
            AddIds(writer, "t5_input_ids", TensorDType.I64, t5, 1);
            writer.Save(twoBatches);
        }

        AssertRejected(Run(Encode("--token-ids", twoBatches)), "clip_input_ids has 2 rows and t5_input_ids 1", "the same batch");

        // A missing tokenizer file; weights that do not fit the config.
        File.Delete(Path.Combine(Pipeline(), "tokenizer", "merges.txt"));
        AssertRejected(Run(Encode("--prompt", Prompt)), "merges.txt");
        File.WriteAllText(Path.Combine(Pipeline(), "text_encoder", "config.json"), ClipConfig(intermediateSize: ClipFf + 1));
        AssertRejected(Run(Encode("--token-ids", good)), "'text_model.encoder.layers.0.mlp.fc1.weight' has shape", $"the config needs [{ClipFf + 1}, {ClipHidden}]");

        Assert.That(File.Exists(output), Is.False, "no output file after any of them");
    }
}
