using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using SvdQuant.Formats;

namespace SvdQuant.Cli.Demo;

/// <summary>
/// The shapes of a synthetic FLUX pipeline: CLIP text model, T5 encoder, FLUX transformer and
/// AutoencoderKL, with the widths that must agree tied together (the transformer's text widths are
/// T5's d_model and CLIP's hidden size; 16 latent channels).
/// </summary>
internal sealed record SyntheticPipelineConfig(
    int ClipHidden, int ClipLayers, int ClipHeads, int T5Model, int T5Layers, int T5Heads, int T5KeyValue, int T5FeedForward,
    int TransformerLayers, int TransformerSingleLayers, int TransformerHeads, bool GuidanceEmbeds, SyntheticVaeConfig Vae)
{
    /// <summary>A small schnell-style pipeline that runs in seconds: what the README's picture and the tests use.</summary>
    public static SyntheticPipelineConfig Tiny { get; } = new(64, 2, 2, 64, 2, 4, 16, 128, 1, 1, 2, false, new([32, 32, 32, 32], 1, 32, 16, QuantConvs: false, SampleSize: 1024));

    /// <summary>
    /// FLUX.1-schnell's widths with few blocks: CLIP-L whole (768, 12 layers), T5-XXL's layer shape
    /// (4096, 64 heads of 64, d_ff 10240) with <paramref name="t5Layers"/> layers, the transformer at
    /// width 3072 with the given block counts, FLUX.1's VAE whole. For measuring a pipeline's stages.
    /// </summary>
    public static SyntheticPipelineConfig FluxWidth(int transformerLayers, int transformerSingleLayers, int t5Layers) =>
        new(768, 12, 12, 4096, t5Layers, 64, 64, 10240, transformerLayers, transformerSingleLayers, 24, false, SyntheticVaeConfig.Flux1);

    /// <summary>Names a cached folder: every field, and the writer's version.</summary>
    public string Key => string.Create(
        CultureInfo.InvariantCulture,
        $"pipeline-v1-c{ClipHidden}x{ClipLayers}h{ClipHeads}-t{T5Model}x{T5Layers}h{T5Heads}k{T5KeyValue}f{T5FeedForward}-d{TransformerLayers}s{TransformerSingleLayers}h{TransformerHeads}g{(GuidanceEmbeds ? 1 : 0)}-{Vae.Key}");

    /// <summary>The transformer's config: its text widths are the encoders'.</summary>
    public SyntheticFluxConfig Transformer => new(TransformerLayers, TransformerSingleLayers, T5Model, ClipHidden, GuidanceEmbeds, TransformerHeads);
}

/// <summary>
/// Writes a diffusers FLUX pipeline folder with random weights in the published layouts
/// (model_index.json, scheduler/, text_encoder/ as CLIPTextModel, text_encoder_2/ as
/// T5EncoderModel, tokenizer/ as CLIP's byte-level BPE files, tokenizer_2/ as a Unigram
/// tokenizer.json, transformer/ (<see cref="SyntheticFlux"/>), vae/ (<see cref="SyntheticVae"/>)), so the whole prompt-to-image path runs
/// on a machine that cannot download FLUX. Its pictures are what random weights draw: texture,
/// not a cat.
/// </summary>
internal static class SyntheticPipeline
{
    private const int Seed = 11;
    private const int ClipMaxPositions = 77;

    /// <summary>The pipeline of <paramref name="config"/> in the temp folder (beside the synthetic transformers), written on first use.</summary>
    public static string Cached(SyntheticPipelineConfig config)
    {
        string folder = Path.Combine(SyntheticFlux.CacheRoot, config.Key);
        if (!Directory.Exists(folder))
        {
            Write(config, folder);
        }

        return folder;
    }

    /// <summary>Writes the pipeline into <paramref name="folder"/>, which must not exist; nothing is left there on failure.</summary>
    public static void Write(SyntheticPipelineConfig config, string folder)
    {
        if (Directory.Exists(folder) || File.Exists(folder))
        {
            throw new SvdQuantException(StatusCode.InvalidArgument, $"{folder} exists; name a new folder for the pipeline");
        }

        string partial = folder.TrimEnd(Path.DirectorySeparatorChar) + ".partial-" + Guid.NewGuid().ToString("N");
        try
        {
            WriteComponents(config, partial);
            Directory.Move(partial, folder);
        }
        finally
        {
            if (Directory.Exists(partial))
            {
                Directory.Delete(partial, recursive: true);
            }
        }
    }

    private static void WriteComponents(SyntheticPipelineConfig c, string root)
    {
        Directory.CreateDirectory(root);
        File.WriteAllText(Path.Combine(root, "model_index.json"), """
            {
              "_class_name": "FluxPipeline",
              "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
              "text_encoder": ["transformers", "CLIPTextModel"],
              "text_encoder_2": ["transformers", "T5EncoderModel"],
              "tokenizer": ["transformers", "CLIPTokenizer"],
              "tokenizer_2": ["transformers", "T5TokenizerFast"],
              "transformer": ["diffusers", "FluxTransformer2DModel"],
              "vae": ["diffusers", "AutoencoderKL"]
            }
            """);
        WriteJson(Path.Combine(root, "scheduler"), "scheduler_config.json", c.GuidanceEmbeds
            ? """{"_class_name": "FlowMatchEulerDiscreteScheduler", "base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15, "num_train_timesteps": 1000, "shift": 3.0, "use_dynamic_shifting": true}"""
            : """{"_class_name": "FlowMatchEulerDiscreteScheduler", "base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15, "num_train_timesteps": 1000, "shift": 1.0, "use_dynamic_shifting": false}""");
        string[] clipVocabulary = ClipVocabulary();
        WriteClipTokenizer(Path.Combine(root, "tokenizer"), clipVocabulary);
        List<string> t5Pieces = T5Pieces();
        WriteT5Tokenizer(Path.Combine(root, "tokenizer_2"), t5Pieces);
        WriteClip(c, Path.Combine(root, "text_encoder"), clipVocabulary.Length);
        WriteT5(c, Path.Combine(root, "text_encoder_2"), t5Pieces.Count);
        SyntheticFlux.Write(c.Transformer, Path.Combine(root, "transformer"));
        SyntheticVae.Write(Path.Combine(root, "vae"), c.Vae, Seed);
    }

    // GPT-2's byte-to-character table (bytes_to_unicode): printable bytes stand for themselves, the
    // others for 256 + n; every byte and its end-of-word form are tokens, so any prompt encodes.
    private static string[] ClipVocabulary()
    {
        var printable = new HashSet<int>(Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range('¡', '¬' - '¡' + 1)).Concat(Enumerable.Range('®', 'ÿ' - '®' + 1)));
        var symbols = new List<string>();
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            symbols.Add(((char)(printable.Contains(b) ? b : next++)).ToString());
        }

        return [.. symbols, .. symbols.Select(s => s + "</w>"), "<|startoftext|>", "<|endoftext|>"];
    }

    private static void WriteClipTokenizer(string folder, string[] vocabulary)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "vocab.json"), JsonSerializer.Serialize(vocabulary.Select((s, i) => (s, i)).ToDictionary(p => p.s, p => p.i)));
        File.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\n");
    }

    // <pad>, </s>, <unk>, then each letter, digit and mark alone and word-initial ("▁x").
    private static List<string> T5Pieces()
    {
        var pieces = new List<string> { "<pad>", "</s>", "<unk>", "▁" };
        foreach (char ch in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'-")
        {
            pieces.Add(ch.ToString());
            pieces.Add("▁" + ch);
        }

        return pieces;
    }

    // T5TokenizerFast's tokenizer.json form: Metaspace pre-tokenizer, </s> appended by the template.
    private static void WriteT5Tokenizer(string folder, List<string> pieces)
    {
        string vocabulary = string.Join(",", pieces.Select((p, i) => string.Create(CultureInfo.InvariantCulture, $"[{JsonSerializer.Serialize(p)},{(i < 3 ? 0.0 : -1.0 - (0.01 * i))}]")));
        WriteJson(folder, "tokenizer.json", """
            {"version":"1.0","truncation":null,"padding":null,
             "added_tokens":[{"id":0,"content":"<pad>","special":true},{"id":1,"content":"</s>","special":true},{"id":2,"content":"<unk>","special":true}],
             "normalizer":{"type":"Sequence","normalizers":[{"type":"Strip","strip_left":false,"strip_right":true},{"type":"Replace","pattern":{"Regex":" {2,}"},"content":"▁"}]},
             "pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true},
             "post_processor":{"type":"TemplateProcessing","single":[{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"</s>","type_id":0}}],"pair":[],
                               "special_tokens":{"</s>":{"id":"</s>","ids":[1],"tokens":["</s>"]}}},
             "model":{"type":"Unigram","unk_id":2,"vocab":[VOCAB],"byte_fallback":false}}
            """.Replace("VOCAB", vocabulary, StringComparison.Ordinal));
    }

    // CLIP-L's config fields with this model's sizes (eos_token_id 2: the legacy argmax pooling, as CLIP-L).
    private static void WriteClip(SyntheticPipelineConfig c, string folder, int vocabulary)
    {
        WriteJson(folder, "config.json", string.Create(CultureInfo.InvariantCulture, $$"""
            {"_class_name": "CLIPTextModel", "architectures": ["CLIPTextModel"], "vocab_size": {{vocabulary}}, "hidden_size": {{c.ClipHidden}},
             "intermediate_size": {{4 * c.ClipHidden}}, "num_hidden_layers": {{c.ClipLayers}}, "num_attention_heads": {{c.ClipHeads}},
             "max_position_embeddings": {{ClipMaxPositions}}, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05,
             "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1, "projection_dim": {{c.ClipHidden}}}
            """));
        var tensors = new List<(string, long[])>
        {
            ("text_model.embeddings.token_embedding.weight", [vocabulary, c.ClipHidden]),
            ("text_model.embeddings.position_embedding.weight", [ClipMaxPositions, c.ClipHidden]),
            ("text_model.final_layer_norm.weight", [c.ClipHidden]),
            ("text_model.final_layer_norm.bias", [c.ClipHidden]),
        };
        for (int i = 0; i < c.ClipLayers; i++)
        {
            string p = $"text_model.encoder.layers.{i}.";
            foreach (string norm in new[] { "layer_norm1", "layer_norm2" })
            {
                tensors.Add((p + norm + ".weight", [c.ClipHidden]));
                tensors.Add((p + norm + ".bias", [c.ClipHidden]));
            }

            foreach (string projection in new[] { "q_proj", "k_proj", "v_proj", "out_proj" })
            {
                tensors.Add((p + "self_attn." + projection + ".weight", [c.ClipHidden, c.ClipHidden]));
                tensors.Add((p + "self_attn." + projection + ".bias", [c.ClipHidden]));
            }

            tensors.Add((p + "mlp.fc1.weight", [4 * c.ClipHidden, c.ClipHidden]));
            tensors.Add((p + "mlp.fc1.bias", [4 * c.ClipHidden]));
            tensors.Add((p + "mlp.fc2.weight", [c.ClipHidden, 4 * c.ClipHidden]));
            tensors.Add((p + "mlp.fc2.bias", [c.ClipHidden]));
        }

        WriteWeights(Path.Combine(folder, "model.safetensors"), tensors);
    }

    // T5 v1.1's config fields (gated-gelu, 32 buckets up to distance 128) with this model's sizes.
    private static void WriteT5(SyntheticPipelineConfig c, string folder, int vocabulary)
    {
        int inner = c.T5Heads * c.T5KeyValue, ff = c.T5FeedForward;
        WriteJson(folder, "config.json", string.Create(CultureInfo.InvariantCulture, $$"""
            {"_class_name": "T5EncoderModel", "architectures": ["T5EncoderModel"], "vocab_size": {{vocabulary}}, "d_model": {{c.T5Model}},
             "d_kv": {{c.T5KeyValue}}, "d_ff": {{ff}}, "num_layers": {{c.T5Layers}}, "num_heads": {{c.T5Heads}},
             "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128, "layer_norm_epsilon": 1e-06,
             "feed_forward_proj": "gated-gelu", "is_gated_act": true, "dense_act_fn": "gelu_new"}
            """));
        var tensors = new List<(string, long[])>
        {
            ("shared.weight", [vocabulary, c.T5Model]),
            ("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", [32, c.T5Heads]),
            ("encoder.final_layer_norm.weight", [c.T5Model]),
        };
        for (int i = 0; i < c.T5Layers; i++)
        {
            string p = $"encoder.block.{i}.layer.";
            tensors.Add((p + "0.layer_norm.weight", [c.T5Model]));
            foreach (string projection in new[] { "q", "k", "v" })
            {
                tensors.Add((p + "0.SelfAttention." + projection + ".weight", [inner, c.T5Model]));
            }

            tensors.Add((p + "0.SelfAttention.o.weight", [c.T5Model, inner]));
            tensors.Add((p + "1.layer_norm.weight", [c.T5Model]));
            tensors.Add((p + "1.DenseReluDense.wi_0.weight", [ff, c.T5Model]));
            tensors.Add((p + "1.DenseReluDense.wi_1.weight", [ff, c.T5Model]));
            tensors.Add((p + "1.DenseReluDense.wo.weight", [c.T5Model, ff]));
        }

        WriteWeights(Path.Combine(folder, "model.safetensors"), tensors);
    }

    // Matrices and kernels N(0, 1 / fan_in); norm scales 1 + N(0, 0.1^2); biases N(0, 0.02^2). BF16.
    private static void WriteWeights(string path, IEnumerable<(string Name, long[] Shape)> tensors)
    {
        using var writer = new SafeTensorsWriter();
        foreach ((string name, long[] shape) in tensors)
        {
            int seed = Seed ^ SyntheticWeights.StableHash(name);
            byte[] bytes = shape.Length == 1
                ? name.EndsWith(".weight", StringComparison.Ordinal)
                    ? SyntheticWeights.Bf16Vector(checked((int)shape[0]), 0.1, 1, seed)
                    : SyntheticWeights.Bf16Vector(checked((int)shape[0]), 0.02, 0, seed)
                : SyntheticWeights.Bf16Matrix(checked((int)shape[0]), checked((int)shape.Skip(1).Aggregate(1L, (a, b) => a * b)), outliers: false, seed);
            writer.AddTensor(name, TensorDType.BF16, shape, bytes);
        }

        writer.Save(path);
    }

    private static void WriteJson(string folder, string name, string json)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, name), json, new UTF8Encoding(false));
    }
}
