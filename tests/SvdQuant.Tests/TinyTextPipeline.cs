using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text.Json;
using SvdQuant.Formats;

namespace SvdQuant.Tests;

/// <summary>
/// A tiny FLUX pipeline folder's text side, written by the tests: <c>text_encoder/</c> (CLIPTextModel keys),
/// <c>text_encoder_2/</c> (T5EncoderModel keys), <c>tokenizer/</c> (vocab.json, merges.txt) and
/// <c>tokenizer_2/</c> (a unigram tokenizer.json), plus <c>transformer/config.json</c> saying dev or schnell.
/// Weights are seeded uniform values, F32. With <c>zeroBlocks</c> every block's output projections
/// (CLIP's out_proj and fc2, T5's o and wo) are zero, so the blocks add nothing and the output is a
/// function of the embeddings and final norm alone: a reference cheap enough to write here.
/// </summary>
internal static class TinyTextPipeline
{
    public const int ClipHidden = 16, ClipFf = 32, ClipLayers = 2, ClipHeads = 2, ClipPositions = 16;
    public const int T5Model = 16, T5Kv = 4, T5Heads = 2, T5Ff = 24, T5Layers = 2, T5Buckets = 8, T5Vocab = 16;
    public const double ClipEps = 1e-5, T5Eps = 1e-6;

    // CLIP's symbols as in ClipTokenizerTests, but <|endoftext|> last: as in CLIP-L it is the largest id, so
    // eos_token_id 2 (the legacy rule: pool at the largest id) finds it.
    public static readonly string[] ClipSymbols =
    [
        "<|startoftext|>", "!", "'", "a", "c", "f", "h", "o", "p", "s", "t", "Ã", "©",
        "!</w>", "a</w>", "f</w>", "o</w>", "s</w>", "t</w>", "©</w>",
        "ph", "at</w>", "of</w>", "cat</w>", "pho", "to</w>", "'s</w>", "<|endoftext|>",
    ];

    private static readonly string[] ClipMerges = ["p h", "a t</w>", "o f</w>", "c at</w>", "ph o", "t o</w>", "' s</w>"];

    // T5's pieces as in T5TokenizerTests: <pad> 0, </s> 1, <unk> 2, then scored pieces.
    private static readonly (string Piece, float Score)[] T5Pieces =
    [
        ("<pad>", 0), ("</s>", 0), ("<unk>", 0), ("▁", -2), ("▁a", -3), ("▁cat", -4), ("c", -5), ("a", -5),
        ("t", -2), ("at", -3.5f), ("▁c", -4.5f), ("▁ca", -1), ("s", -5),
    ];

    public static int ClipVocab => ClipSymbols.Length;

    /// <summary>Writes the folder; returns every tensor written, by its key (encoder folder prefix "clip/" or "t5/").</summary>
    public static Dictionary<string, float[]> Write(string folder, bool guidanceEmbeds = true, bool zeroBlocks = false)
    {
        var clip = ClipTensors(zeroBlocks);
        var t5 = T5Tensors(zeroBlocks);
        WriteEncoder(Path.Combine(folder, "text_encoder"), ClipConfig(), clip);
        WriteEncoder(Path.Combine(folder, "text_encoder_2"), T5Config(), t5);
        WriteTokenizers(folder);
        Directory.CreateDirectory(Path.Combine(folder, "transformer"));
        File.WriteAllText(Path.Combine(folder, "transformer", "config.json"),
            $"{{\"_class_name\": \"FluxTransformer2DModel\", \"guidance_embeds\": {(guidanceEmbeds ? "true" : "false")}}}");
        File.WriteAllText(Path.Combine(folder, "model_index.json"), "{\"_class_name\": \"FluxPipeline\"}");
        var all = new Dictionary<string, float[]>();
        foreach (var (name, (_, values)) in clip)
        {
            all["clip/" + name] = values;
        }

        foreach (var (name, (_, values)) in t5)
        {
            all["t5/" + name] = values;
        }

        return all;
    }

    public static string ClipConfig(int intermediateSize = ClipFf) =>
        $"{{\"architectures\": [\"CLIPTextModel\"], \"vocab_size\": {ClipVocab}, \"hidden_size\": {ClipHidden}, \"intermediate_size\": {intermediateSize}, " +
        $"\"num_hidden_layers\": {ClipLayers}, \"num_attention_heads\": {ClipHeads}, \"max_position_embeddings\": {ClipPositions}, " +
        "\"hidden_act\": \"quick_gelu\", \"layer_norm_eps\": 1e-05, \"bos_token_id\": 0, \"eos_token_id\": 2}";

    private static string T5Config() =>
        $"{{\"architectures\": [\"T5EncoderModel\"], \"vocab_size\": {T5Vocab}, \"d_model\": {T5Model}, \"d_kv\": {T5Kv}, \"d_ff\": {T5Ff}, " +
        $"\"num_layers\": {T5Layers}, \"num_heads\": {T5Heads}, \"relative_attention_num_buckets\": {T5Buckets}, " +
        "\"relative_attention_max_distance\": 16, \"layer_norm_epsilon\": 1e-06, \"feed_forward_proj\": \"gated-gelu\"}";

    private static SortedDictionary<string, (long[] Shape, float[] Values)> ClipTensors(bool zeroBlocks)
    {
        var t = new SortedDictionary<string, (long[], float[])>(StringComparer.Ordinal);
        var random = new Random(15);
        void Add(string name, long[] shape, float scale, float mean = 0, bool zero = false) =>
            t[name] = (shape, Values(random, shape, zero ? 0 : scale, zero ? 0 : mean));
        const string p = "text_model.";
        Add(p + "embeddings.token_embedding.weight", [ClipVocab, ClipHidden], 1);
        Add(p + "embeddings.position_embedding.weight", [ClipPositions, ClipHidden], 1);
        for (int i = 0; i < ClipLayers; i++)
        {
            string l = $"{p}encoder.layers.{i}.";
            foreach (string norm in new[] { "layer_norm1", "layer_norm2" })
            {
                Add(l + norm + ".weight", [ClipHidden], 0.3f, 1);
                Add(l + norm + ".bias", [ClipHidden], 0.3f);
            }

            foreach (string proj in new[] { "q_proj", "k_proj", "v_proj", "out_proj" })
            {
                Add(l + "self_attn." + proj + ".weight", [ClipHidden, ClipHidden], 0.4f, zero: zeroBlocks && proj == "out_proj");
                Add(l + "self_attn." + proj + ".bias", [ClipHidden], 0.3f, zero: zeroBlocks && proj == "out_proj");
            }

            Add(l + "mlp.fc1.weight", [ClipFf, ClipHidden], 0.4f);
            Add(l + "mlp.fc1.bias", [ClipFf], 0.3f);
            Add(l + "mlp.fc2.weight", [ClipHidden, ClipFf], 0.3f, zero: zeroBlocks);
            Add(l + "mlp.fc2.bias", [ClipHidden], 0.3f, zero: zeroBlocks);
        }

        Add(p + "final_layer_norm.weight", [ClipHidden], 0.3f, 1);
        Add(p + "final_layer_norm.bias", [ClipHidden], 0.3f);
        return t;
    }

    private static SortedDictionary<string, (long[] Shape, float[] Values)> T5Tensors(bool zeroBlocks)
    {
        var t = new SortedDictionary<string, (long[], float[])>(StringComparer.Ordinal);
        var random = new Random(5);
        void Add(string name, long[] shape, float scale, float mean = 0, bool zero = false) =>
            t[name] = (shape, Values(random, shape, zero ? 0 : scale, zero ? 0 : mean));
        const int inner = T5Kv * T5Heads;
        Add("shared.weight", [T5Vocab, T5Model], 1);
        Add("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", [T5Buckets, T5Heads], 1);
        for (int i = 0; i < T5Layers; i++)
        {
            string b = $"encoder.block.{i}.layer.";
            Add(b + "0.layer_norm.weight", [T5Model], 0.3f, 1);
            foreach (string proj in new[] { "q", "k", "v" })
            {
                Add(b + "0.SelfAttention." + proj + ".weight", [inner, T5Model], 0.4f);
            }

            Add(b + "0.SelfAttention.o.weight", [T5Model, inner], 0.4f, zero: zeroBlocks);
            Add(b + "1.layer_norm.weight", [T5Model], 0.3f, 1);
            Add(b + "1.DenseReluDense.wi_0.weight", [T5Ff, T5Model], 0.4f);
            Add(b + "1.DenseReluDense.wi_1.weight", [T5Ff, T5Model], 0.4f);
            Add(b + "1.DenseReluDense.wo.weight", [T5Model, T5Ff], 0.3f, zero: zeroBlocks);
        }

        Add("encoder.final_layer_norm.weight", [T5Model], 0.3f, 1);
        return t;
    }

    // mean + scale * U(-1, 1).
    private static float[] Values(Random random, long[] shape, float scale, float mean)
    {
        var v = new float[shape.Aggregate(1L, (a, b) => a * b)];
        for (int i = 0; i < v.Length; i++)
        {
            v[i] = mean + scale * (float)(random.NextDouble() * 2 - 1);
        }

        return v;
    }

    private static void WriteEncoder(string folder, string config, SortedDictionary<string, (long[] Shape, float[] Values)> tensors)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), config);
        using var writer = new SafeTensorsWriter();
        foreach (var (name, (shape, values)) in tensors)
        {
            writer.AddTensor(name, shape, values);
        }

        writer.Save(Path.Combine(folder, "model.safetensors"));
    }

    private static void WriteTokenizers(string folder)
    {
        string clip = Directory.CreateDirectory(Path.Combine(folder, "tokenizer")).FullName;
        File.WriteAllText(Path.Combine(clip, "vocab.json"), JsonSerializer.Serialize(ClipSymbols.Select((s, i) => (s, i)).ToDictionary(p => p.s, p => p.i)));
        File.WriteAllLines(Path.Combine(clip, "merges.txt"), new[] { "#version: 0.2" }.Concat(ClipMerges));

        string t5 = Directory.CreateDirectory(Path.Combine(folder, "tokenizer_2")).FullName;
        string vocab = string.Join(",", T5Pieces.Select(p => FormattableString.Invariant($"[\"{p.Piece}\",{p.Score}]")));
        File.WriteAllText(Path.Combine(t5, "tokenizer.json"), """
            {"version":"1.0","truncation":null,"padding":null,
             "added_tokens":[{"id":0,"content":"<pad>","special":true},{"id":1,"content":"</s>","special":true},{"id":2,"content":"<unk>","special":true}],
             "normalizer":{"type":"Sequence","normalizers":[{"type":"Strip","strip_left":false,"strip_right":true},{"type":"Replace","pattern":{"Regex":" {2,}"},"content":"▁"}]},
             "pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true},
             "post_processor":{"type":"TemplateProcessing","single":[{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"</s>","type_id":0}}],"pair":[],
                               "special_tokens":{"</s>":{"id":"</s>","ids":[1],"tokens":["</s>"]}}},
             "model":{"type":"Unigram","unk_id":2,"vocab":[VOCAB],"byte_fallback":false}}
            """.Replace("VOCAB", vocab));
    }

    /// <summary>Writes token ids as a safetensors tensor of <paramref name="dtype"/> (I64 or I32), shape [rows, ids / rows].</summary>
    public static void AddIds(SafeTensorsWriter writer, string name, TensorDType dtype, int[] ids, int rows)
    {
        long[] shape = [rows, ids.Length / rows];
        if (dtype == TensorDType.I64)
        {
            writer.AddTensor(name, dtype, shape, MemoryMarshal.AsBytes(ids.Select(i => (long)i).ToArray().AsSpan()));
        }
        else
        {
            writer.AddTensor(name, dtype, shape, MemoryMarshal.AsBytes(ids.AsSpan()));
        }
    }
}
