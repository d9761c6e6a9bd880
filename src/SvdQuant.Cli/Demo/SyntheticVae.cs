using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using SvdQuant.Formats;

namespace SvdQuant.Cli.Demo;

/// <summary>
/// The hyper-parameters of a synthetic diffusers <c>AutoencoderKL</c>: FLUX.1's VAE
/// (<see cref="Flux1"/>) or a tiny one for tests.
/// </summary>
internal sealed record SyntheticVaeConfig(int[] Blocks, int LayersPerBlock, int Groups, int LatentChannels, bool QuantConvs, int SampleSize)
{
    /// <summary>FLUX.1's vae/config.json: 16 latent channels, block_out_channels [128, 256, 512, 512], 2 layers per block, 32 groups, no quant convs.</summary>
    public static SyntheticVaeConfig Flux1 { get; } = new([128, 256, 512, 512], 2, 32, 16, QuantConvs: false, SampleSize: 1024);

    /// <summary>FluxPipeline's latent scaling of FLUX.1.</summary>
    public const double ScalingFactor = 0.3611, ShiftFactor = 0.1159;

    /// <summary>Image side / latent side.</summary>
    public int Downscale => 1 << (Blocks.Length - 1);

    /// <summary>Names the cached files: every field that changes a tensor, and the generator's version.</summary>
    public string Key => string.Create(
        CultureInfo.InvariantCulture,
        $"vae-v1-b{string.Join("_", Blocks)}-l{LayersPerBlock}-g{Groups}-z{LatentChannels}-q{(QuantConvs ? 1 : 0)}-s{SampleSize}");

    /// <summary>diffusers' config.json of <c>AutoencoderKL</c>.</summary>
    public string ConfigJson
    {
        get
        {
            string blocks = string.Join(", ", Blocks);
            string down = string.Join(", ", Blocks.Select(_ => "\"DownEncoderBlock2D\""));
            string up = string.Join(", ", Blocks.Select(_ => "\"UpDecoderBlock2D\""));
            string quant = QuantConvs ? "true" : "false";
            return string.Create(CultureInfo.InvariantCulture, $$"""
                {
                  "_class_name": "AutoencoderKL",
                  "act_fn": "silu",
                  "in_channels": 3,
                  "out_channels": 3,
                  "latent_channels": {{LatentChannels}},
                  "block_out_channels": [{{blocks}}],
                  "down_block_types": [{{down}}],
                  "up_block_types": [{{up}}],
                  "layers_per_block": {{LayersPerBlock}},
                  "norm_num_groups": {{Groups}},
                  "sample_size": {{SampleSize}},
                  "mid_block_add_attention": true,
                  "use_quant_conv": {{quant}},
                  "use_post_quant_conv": {{quant}},
                  "scaling_factor": {{ScalingFactor}},
                  "shift_factor": {{ShiftFactor}}
                }
                """);
        }
    }
}

/// <summary>
/// Synthetic VAE folders (config.json + diffusion_pytorch_model.safetensors, F32) with every tensor of
/// diffusers' <c>AutoencoderKL</c> in its key layout: convolutions and linears N(0, 1 / fan_in), biases
/// N(0, 0.3^2), norm weights 1 + N(0, 0.2^2) and biases N(0, 0.2^2).
/// </summary>
internal static class SyntheticVae
{
    /// <summary>Where the cached folders live.</summary>
    public static string CacheRoot => Path.Combine(Path.GetTempPath(), "svdquant-synthetic-vae");

    /// <summary>The folder of <paramref name="config"/> under <see cref="CacheRoot"/>, written on first use (complete once it exists).</summary>
    public static string CachedFolder(SyntheticVaeConfig config, int seed = 3)
    {
        string folder = Path.Combine(CacheRoot, $"{config.Key}-seed{seed}");
        if (!File.Exists(Path.Combine(folder, "diffusion_pytorch_model.safetensors")))
        {
            Write(folder, config, seed);
        }

        return folder;
    }

    /// <summary>Writes the folder; the weights file last, under a temporary name renamed into place.</summary>
    public static void Write(string folder, SyntheticVaeConfig config, int seed)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ConfigJson);
        var random = new GaussianRandom(seed);
        using var writer = new SafeTensorsWriter();
        foreach ((string name, long[] shape, double mean, double stddev) in Tensors(config))
        {
            var values = new float[shape.Aggregate(1L, (a, b) => a * b)];
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = (float)random.Next(mean, stddev);
            }

            writer.AddTensor(name, shape, values);
        }

        writer.Save(Path.Combine(folder, "diffusion_pytorch_model.safetensors"));
    }

    /// <summary>Every tensor of diffusers' AutoencoderKL, by name, with its shape and its values' mean and deviation.</summary>
    public static IEnumerable<(string Name, long[] Shape, double Mean, double Stddev)> Tensors(SyntheticVaeConfig c)
    {
        var tensors = new List<(string, long[], double, double)>();
        void Conv(string name, long inChannels, long outChannels, long kernel)
        {
            tensors.Add((name + ".weight", [outChannels, inChannels, kernel, kernel], 0, 1 / Math.Sqrt(inChannels * kernel * kernel)));
            tensors.Add((name + ".bias", [outChannels], 0, 0.3));
        }

        void Norm(string name, long channels)
        {
            tensors.Add((name + ".weight", [channels], 1, 0.2));
            tensors.Add((name + ".bias", [channels], 0, 0.2));
        }

        void Resnet(string p, long inChannels, long outChannels)
        {
            Norm(p + ".norm1", inChannels);
            Conv(p + ".conv1", inChannels, outChannels, 3);
            Norm(p + ".norm2", outChannels);
            Conv(p + ".conv2", outChannels, outChannels, 3);
            if (inChannels != outChannels)
            {
                Conv(p + ".conv_shortcut", inChannels, outChannels, 1);
            }
        }

        void Mid(string p, long channels)
        {
            Resnet(p + ".resnets.0", channels, channels);
            Norm(p + ".attentions.0.group_norm", channels);
            foreach (string linear in new[] { ".to_q", ".to_k", ".to_v", ".to_out.0" })
            {
                tensors.Add((p + ".attentions.0" + linear + ".weight", [channels, channels], 0, 1 / Math.Sqrt(channels)));
                tensors.Add((p + ".attentions.0" + linear + ".bias", [channels], 0, 0.3));
            }

            Resnet(p + ".resnets.1", channels, channels);
        }

        int[] blocks = c.Blocks;
        long top = blocks[^1], latent = c.LatentChannels;
        Conv("encoder.conv_in", 3, blocks[0], 3);
        long channels = blocks[0];
        for (int i = 0; i < blocks.Length; i++)
        {
            for (int r = 0; r < c.LayersPerBlock; r++)
            {
                Resnet($"encoder.down_blocks.{i}.resnets.{r}", r == 0 ? channels : blocks[i], blocks[i]);
            }

            if (i + 1 < blocks.Length)
            {
                Conv($"encoder.down_blocks.{i}.downsamplers.0.conv", blocks[i], blocks[i], 3);
            }

            channels = blocks[i];
        }

        Mid("encoder.mid_block", top);
        Norm("encoder.conv_norm_out", top);
        Conv("encoder.conv_out", top, 2 * latent, 3);
        if (c.QuantConvs)
        {
            Conv("quant_conv", 2 * latent, 2 * latent, 1);
            Conv("post_quant_conv", latent, latent, 1);
        }

        Conv("decoder.conv_in", latent, top, 3);
        Mid("decoder.mid_block", top);
        channels = top;
        for (int i = 0; i < blocks.Length; i++)
        {
            long outChannels = blocks[blocks.Length - 1 - i];
            for (int r = 0; r < c.LayersPerBlock + 1; r++)
            {
                Resnet($"decoder.up_blocks.{i}.resnets.{r}", r == 0 ? channels : outChannels, outChannels);
            }

            if (i + 1 < blocks.Length)
            {
                Conv($"decoder.up_blocks.{i}.upsamplers.0.conv", outChannels, outChannels, 3);
            }

            channels = outChannels;
        }

        Norm("decoder.conv_norm_out", blocks[0]);
        Conv("decoder.conv_out", blocks[0], 3, 3);
        return tensors;
    }
}
