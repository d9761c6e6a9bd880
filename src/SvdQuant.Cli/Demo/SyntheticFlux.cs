using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Threading.Tasks;
using SvdQuant.Formats;
using SvdQuant.Models;
using SvdQuant.Quantization;

namespace SvdQuant.Cli.Demo;

/// <summary>
/// The hyper-parameters of a synthetic FLUX.1 transformer: FLUX.1-dev's block shapes (heads of
/// 128 channels, 24 of them for FLUX.1's width 3072, 64 latent channels, patch 1, rope axes
/// 16/56/56) with the block counts, the head count and the text widths free.
/// </summary>
internal sealed record SyntheticFluxConfig(int Layers, int SingleLayers, int JointAttentionDim, int PooledProjectionDim, bool GuidanceEmbeds, int Heads = 24)
{
    public const int HeadDim = 128;
    public const int InChannels = 64;

    /// <summary>The model width, heads x 128.</summary>
    public int Width => Heads * HeadDim;

    /// <summary>FLUX.1-dev's own text widths (T5-XXL tokens, CLIP pooled) and guidance embedding, with the given block counts.</summary>
    public static SyntheticFluxConfig Flux1Dev(int layers, int singleLayers) => new(layers, singleLayers, 4096, 768, true);

    /// <summary>FLUX.1-schnell's: FLUX.1-dev's text widths without the guidance embedding, with the given block counts.</summary>
    public static SyntheticFluxConfig Flux1Schnell(int layers, int singleLayers) => new(layers, singleLayers, 4096, 768, false);

    /// <summary>Names the cached files: every field that changes a tensor, and the generator's version.</summary>
    public string Key => string.Create(
        CultureInfo.InvariantCulture,
        $"flux-v1-h{Heads}-d{Layers}-s{SingleLayers}-j{JointAttentionDim}-p{PooledProjectionDim}-g{(GuidanceEmbeds ? 1 : 0)}");

    /// <summary>diffusers' config.json of <c>FluxTransformer2DModel</c>.</summary>
    public string ConfigJson => string.Create(CultureInfo.InvariantCulture, $$"""
        {
          "_class_name": "FluxTransformer2DModel",
          "patch_size": 1,
          "in_channels": {{InChannels}},
          "out_channels": null,
          "num_layers": {{Layers}},
          "num_single_layers": {{SingleLayers}},
          "attention_head_dim": {{HeadDim}},
          "num_attention_heads": {{Heads}},
          "joint_attention_dim": {{JointAttentionDim}},
          "pooled_projection_dim": {{PooledProjectionDim}},
          "guidance_embeds": {{(GuidanceEmbeds ? "true" : "false")}},
          "axes_dims_rope": [16, 56, 56]
        }
        """);
}

/// <summary>
/// Synthetic FLUX.1 checkpoints: a diffusers folder with every tensor of
/// <c>FluxTransformer2DModel</c> in BF16 (as FLUX.1 ships), and its SVDQuant file. Both are cached in
/// the temp folder under the config's key, so BenchmarkDotNet's separate processes and later runs (and demos)
/// reuse them (files are written under a temporary name and renamed, so a cache hit is complete).
/// The key holds the config, not the engine: delete the folder after changing the quantizer.
/// </summary>
internal static class SyntheticFlux
{
    private const int TimestepChannels = 256;
    private const int Seed = 6;

    /// <summary>Where the cached models live.</summary>
    public static string CacheRoot => Path.Combine(Path.GetTempPath(), "svdquant-synthetic-flux");

    /// <summary>The diffusers folder of <paramref name="config"/>, generated on first use.</summary>
    public static string Folder(SyntheticFluxConfig config)
    {
        string folder = Path.Combine(CacheRoot, config.Key);
        string weights = Path.Combine(folder, "diffusion_pytorch_model.safetensors");
        if (File.Exists(weights))
        {
            return folder;
        }

        Write(config, folder);
        return folder;
    }

    /// <summary>Writes the diffusers folder of <paramref name="config"/> (config.json, diffusion_pytorch_model.safetensors) into <paramref name="folder"/>.</summary>
    public static void Write(SyntheticFluxConfig config, string folder)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ConfigJson);
        using var writer = new SafeTensorsWriter();
        foreach ((string name, long[] shape) in Tensors(config))
        {
            writer.AddTensor(name, TensorDType.BF16, shape, Bf16Bytes(name, shape));
        }

        writer.Save(Path.Combine(folder, "diffusion_pytorch_model.safetensors"));
    }

    /// <summary>
    /// The calibrated SVDQuant INT4 file (rank <paramref name="rank"/>, 4 synthetic calibration samples)
    /// of <paramref name="config"/>'s folder, quantized on first use. It sits beside the folder: the
    /// engine reads every *.safetensors inside a diffusers folder as a shard.
    /// </summary>
    public static string SvdQuantFile(Engine engine, SyntheticFluxConfig config, int rank)
    {
        string path = Path.Combine(CacheRoot, string.Create(CultureInfo.InvariantCulture, $"{config.Key}.svdquant-int4-r{rank}.safetensors"));
        if (!File.Exists(path))
        {
            Quantizer.QuantizeFlux(engine, Folder(config), path, new QuantizerOptions { Rank = rank });
        }

        return path;
    }

    /// <summary>Every tensor of diffusers' <c>FluxTransformer2DModel</c>, by name, with its shape.</summary>
    public static IEnumerable<(string Name, long[] Shape)> Tensors(SyntheticFluxConfig c)
    {
        long d = c.Width;
        var tensors = new List<(string, long[])>();
        void Linear(string name, long outFeatures, long inFeatures)
        {
            tensors.Add((name + ".weight", [outFeatures, inFeatures]));
            tensors.Add((name + ".bias", [outFeatures]));
        }

        void Norm(string name) => tensors.Add((name + ".weight", [SyntheticFluxConfig.HeadDim]));

        Linear("x_embedder", d, SyntheticFluxConfig.InChannels);
        Linear("context_embedder", d, c.JointAttentionDim);
        Linear("time_text_embed.timestep_embedder.linear_1", d, TimestepChannels);
        Linear("time_text_embed.timestep_embedder.linear_2", d, d);
        if (c.GuidanceEmbeds)
        {
            Linear("time_text_embed.guidance_embedder.linear_1", d, TimestepChannels);
            Linear("time_text_embed.guidance_embedder.linear_2", d, d);
        }

        Linear("time_text_embed.text_embedder.linear_1", d, c.PooledProjectionDim);
        Linear("time_text_embed.text_embedder.linear_2", d, d);
        for (int i = 0; i < c.Layers; i++)
        {
            string p = $"transformer_blocks.{i}.";
            Linear(p + "norm1.linear", 6 * d, d);
            Linear(p + "norm1_context.linear", 6 * d, d);
            foreach (string projection in new[] { "to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj", "to_out.0", "to_add_out" })
            {
                Linear(p + "attn." + projection, d, d);
            }

            foreach (string norm in new[] { "norm_q", "norm_k", "norm_added_q", "norm_added_k" })
            {
                Norm(p + "attn." + norm);
            }

            foreach (string ff in new[] { "ff", "ff_context" })
            {
                Linear(p + ff + ".net.0.proj", 4 * d, d);
                Linear(p + ff + ".net.2", d, 4 * d);
            }
        }

        for (int i = 0; i < c.SingleLayers; i++)
        {
            string p = $"single_transformer_blocks.{i}.";
            Linear(p + "norm.linear", 3 * d, d);
            foreach (string projection in new[] { "to_q", "to_k", "to_v" })
            {
                Linear(p + "attn." + projection, d, d);
            }

            Norm(p + "attn.norm_q");
            Norm(p + "attn.norm_k");
            Linear(p + "proj_mlp", 4 * d, d);
            Linear(p + "proj_out", d, 5 * d);  // reads [attention, MLP]
        }

        Linear("norm_out.linear", 2 * d, d);
        Linear("proj_out", SyntheticFluxConfig.InChannels, d);
        return tensors;
    }

    /// <summary>
    /// One forward's inputs as FluxPipeline makes them for a <paramref name="grid"/> x <paramref name="grid"/>
    /// latent: image ids (0, row, column), text ids zero, Gaussian latents and text states, t = 0.5, guidance 3.5.
    /// </summary>
    public static FluxInputs Inputs(SyntheticFluxConfig c, int grid, int textTokens)
    {
        int imageTokens = grid * grid;
        var imageIds = new float[imageTokens * 3];
        for (int r = 0; r < grid; r++)
        {
            for (int col = 0; col < grid; col++)
            {
                imageIds[(((r * grid) + col) * 3) + 1] = r;
                imageIds[(((r * grid) + col) * 3) + 2] = col;
            }
        }

        return new FluxInputs
        {
            Batch = 1,
            ImageTokens = imageTokens,
            TextTokens = textTokens,
            HiddenStates = Gaussian(imageTokens * SyntheticFluxConfig.InChannels, 1.0, seed: 1),
            EncoderHiddenStates = Gaussian(textTokens * c.JointAttentionDim, 1.0, seed: 2),
            PooledProjections = Gaussian(c.PooledProjectionDim, 1.0, seed: 3),
            Timestep = [0.5f],
            Guidance = c.GuidanceEmbeds ? [3.5f] : null,
            ImageIds = imageIds,
            TextIds = new float[textTokens * 3],
        };
    }

    /// <summary>
    /// The BF16 bytes of the tensor <paramref name="name"/> of <see cref="Tensors"/>. Weights: N(0, 1 / fan_in)
    /// with about one input channel in 512 ten times larger (the outliers that smoothing and the low-rank
    /// branch exist for); biases N(0, 0.02^2); the q/k RMSNorm scales 1 + N(0, 0.1^2). Each tensor's values
    /// depend only on its name.
    /// </summary>
    public static byte[] Bf16Bytes(string name, long[] shape)
    {
        int seed = Seed ^ SyntheticWeights.StableHash(name);
        if (shape.Length == 1)
        {
            bool norm = name.Contains(".norm_", StringComparison.Ordinal);
            return SyntheticWeights.Bf16Vector(checked((int)shape[0]), norm ? 0.1 : 0.02, norm ? 1 : 0, seed);
        }

        return SyntheticWeights.Bf16Matrix(checked((int)shape[0]), checked((int)shape[1]), outliers: true, seed);
    }

    private static float[] Gaussian(int count, double std, int seed) => SyntheticWeights.Gaussian(count, std, seed);
}
