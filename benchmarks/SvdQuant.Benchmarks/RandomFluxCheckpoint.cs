using System;
using System.Buffers.Binary;
using System.Globalization;
using System.IO;
using SvdQuant.Cli.Demo;
using SvdQuant.Formats;

namespace SvdQuant.Benchmarks;

/// <summary>How the block linears of a <see cref="RandomFluxCheckpoint"/> are stored.</summary>
internal enum RandomFluxWeights
{
    /// <summary>Nunchaku's SVDQuant INT4 layers (rank <see cref="RandomFluxCheckpoint.Rank"/>), AWQ W4A16 adaLN: a published Nunchaku file's layout.</summary>
    W4A4,

    /// <summary>Every block linear an AWQ W4A16 layer (INT4 values, group 64, symmetric zero points).</summary>
    W4A16,
}

/// <summary>
/// A FLUX.1 checkpoint with random 4-bit block weights, written directly in its stored form (random
/// nibble bytes, BF16 scales of a chosen magnitude), never as float matrices, and streamed to disk a
/// tensor at a time (<see cref="SafeTensorsStreamWriter"/>), so a FLUX.1-schnell-size model (~6.7 GB)
/// takes about a minute and little memory. The layout is a single-file
/// Nunchaku checkpoint with diffusers-style keys: the metadata (<c>config</c>, <c>model_class</c>,
/// <c>quantization_config</c> for W4A4), the quantized layers' tensors, dtypes and shapes as Nunchaku
/// stores them (<c>formats/nunchaku_linear.h</c>, <c>nunchaku_w4a16_linear.h</c>), and the embedders,
/// q/k norms, <c>norm_out</c> and <c>proj_out</c> as <see cref="SyntheticFlux"/>'s BF16 tensors. Every
/// value is i.i.d., so the packed orders (a permutation) need not be applied value by value, except
/// where position matters: the adaLN bias of the scale chunks carries Nunchaku's +1 at its
/// interleaved rows, and the fused out_proj layers hold smooth = 1. Magnitudes keep a forward through
/// 57 blocks in range: 4-bit scales of mean 1 / (4.6 sqrt(K)) (a signed nibble's deviation is 4.6)
/// give each linear a gain of about one, the low-rank branch adds about a quarter, smoothing factors
/// lie in [0.5, 2], biases in +-0.02.
/// </summary>
internal static class RandomFluxCheckpoint
{
    /// <summary>Rank of the W4A4 layers' low-rank branch (Nunchaku's published FLUX.1 files: 32).</summary>
    public const int Rank = 32;

    private const int Seed = 20;
    private const double NibbleDeviation = 4.6;  // sqrt((16^2 - 1) / 12): a uniform signed or unsigned nibble
    private const double ModulationGain = 0.5;   // adaLN outputs (shift, scale, gate) of about half the input's size

    private enum Kind { AdaNorm6, AdaNorm3, Linear, FusedSmooth, NoBias }

    // The quantized linears of a block: Nunchaku's diffusers-style name, [out, in] as multiples of
    // the width, and what it is (formats/nunchaku_flux_layout.cpp lists the same layers).
    private static readonly (string Name, int Out, int In, Kind Kind)[] DoubleBlock =
    [
        ("norm1.linear", 6, 1, Kind.AdaNorm6),
        ("norm1_context.linear", 6, 1, Kind.AdaNorm6),
        ("attn.to_qkv", 3, 1, Kind.Linear),
        ("attn.add_qkv_proj", 3, 1, Kind.Linear),
        ("attn.to_out.0", 1, 1, Kind.FusedSmooth),
        ("attn.to_add_out", 1, 1, Kind.FusedSmooth),
        ("ff.net.0.proj", 4, 1, Kind.Linear),
        ("ff.net.2", 1, 4, Kind.Linear),
        ("ff_context.net.0.proj", 4, 1, Kind.Linear),
        ("ff_context.net.2", 1, 4, Kind.Linear),
    ];

    private static readonly (string Name, int Out, int In, Kind Kind)[] SingleBlock =
    [
        ("norm.linear", 3, 1, Kind.AdaNorm3),
        ("attn.to_qkv", 3, 1, Kind.Linear),
        ("attn.to_out", 1, 1, Kind.NoBias),  // the attention columns of proj_out: Nunchaku stores a zero bias
        ("mlp_fc1", 4, 1, Kind.Linear),
        ("mlp_fc2", 1, 4, Kind.Linear),
    ];

    /// <summary>The cached checkpoint of <paramref name="config"/>, written on first use beside <see cref="SyntheticFlux"/>'s models.</summary>
    public static string CachedFile(SyntheticFluxConfig config, RandomFluxWeights weights)
    {
        string path = Path.Combine(
            SyntheticFlux.CacheRoot,
            string.Create(CultureInfo.InvariantCulture, $"{config.Key}.random-{weights.ToString().ToLowerInvariant()}-r{Rank}-v1.safetensors"));
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(SyntheticFlux.CacheRoot);
            Write(config, weights, path);
        }

        return path;
    }

    /// <summary>Writes the checkpoint (through temporaries renamed into place, so a cached file is complete).</summary>
    public static void Write(SyntheticFluxConfig config, RandomFluxWeights weights, string path)
    {
        using var writer = new SafeTensorsStreamWriter(path);
        writer.SetMetadata("config", config.ConfigJson);
        writer.SetMetadata("model_class", "NunchakuFluxTransformer2dModel");
        if (weights == RandomFluxWeights.W4A4)
        {
            // As nunchaku/merge_safetensors.py writes it; it declares the W4A4 layers, so a W4A16 file has none.
            writer.SetMetadata(
                "quantization_config",
                """{"method": "svdquant", "weight": {"dtype": "int4", "scale_dtype": null, "group_size": 64}, "activation": {"dtype": "int4", "scale_dtype": null, "group_size": 64}}""");
        }

        // Outside the blocks, and the q/k norms inside them: the diffusers tensors, as Nunchaku keeps them.
        foreach ((string name, long[] shape) in SyntheticFlux.Tensors(config))
        {
            bool inBlock = name.StartsWith("transformer_blocks.", StringComparison.Ordinal) || name.StartsWith("single_transformer_blocks.", StringComparison.Ordinal);
            if (!inBlock || name.Contains(".attn.norm_", StringComparison.Ordinal))
            {
                writer.AddTensor(name, TensorDType.BF16, shape, SyntheticFlux.Bf16Bytes(name, shape));
            }
        }

        var random = new Draws(Seed);
        for (int i = 0; i < config.Layers; i++)
        {
            foreach (var layer in DoubleBlock)
            {
                AddLayer(writer, $"transformer_blocks.{i}.{layer.Name}", layer.Out * config.Width, layer.In * config.Width, layer.Kind, weights, random);
            }
        }

        for (int i = 0; i < config.SingleLayers; i++)
        {
            foreach (var layer in SingleBlock)
            {
                AddLayer(writer, $"single_transformer_blocks.{i}.{layer.Name}", layer.Out * config.Width, layer.In * config.Width, layer.Kind, weights, random);
            }
        }

        writer.Finish();
    }

    /// <summary>The parameters of the model as the engine counts them (one per weight, bias and norm value, as in the float model).</summary>
    public static long ParameterCount(SyntheticFluxConfig config)
    {
        long count = 0;
        foreach ((string _, long[] shape) in SyntheticFlux.Tensors(config))
        {
            long size = 1;
            foreach (long d in shape)
            {
                size *= d;
            }

            count += size;
        }

        return count;
    }

    private static void AddLayer(SafeTensorsStreamWriter writer, string prefix, long n, long k, Kind kind, RandomFluxWeights weights, Draws random)
    {
        double scale = 1 / (NibbleDeviation * Math.Sqrt(k));
        int chunks = kind switch { Kind.AdaNorm6 => 6, Kind.AdaNorm3 => 3, _ => 0 };
        if (chunks > 0 || weights == RandomFluxWeights.W4A16)
        {
            // AWQ: qweight int32 [N/4, K/2] (8 nibbles each), wscales and wzeros [K/64, N], value =
            // u * scale + zero; zero = -8 * scale is the symmetric form (exact in BF16, as the quantizer writes it).
            writer.AddTensor(prefix + ".qweight", TensorDType.I32, [n / 4, k / 2], random.Bytes(n * k / 2));
            double mean = chunks > 0 ? ModulationGain * scale : scale;
            var scales = new float[k / 64 * n];
            for (int i = 0; i < scales.Length; i++)
            {
                scales[i] = random.Around(mean);
            }

            writer.AddTensor(prefix + ".wscales", TensorDType.BF16, [k / 64, n], Bf16(scales.Length, i => scales[i]));
            writer.AddTensor(prefix + ".wzeros", TensorDType.BF16, [k / 64, n], Bf16(scales.Length, i => -8 * RoundedToBf16(scales[i])));

            // Nunchaku's adaLN rows are interleaved (row j * C + c holds chunk c) with +1 folded into the
            // bias of the scale chunks (c = 1 and C - 2), which the loader takes off again.
            writer.AddTensor(prefix + ".bias", TensorDType.BF16, [n], Bf16(n, row =>
            {
                long c = chunks > 0 ? row % chunks : -1;
                return (c == 1 || c == chunks - 2 ? 1 : 0) + random.Symmetric(0.02);
            }));
            return;
        }

        // SVDQuant W4A4 (INT4): qweight int8 [N, K/2], wscales [K/64, N], bias [N], smooth_factor and
        // smooth_factor_orig [K], proj_down [K, r], proj_up [N, r].
        writer.AddTensor(prefix + ".qweight", TensorDType.I8, [n, k / 2], random.Bytes(n * k / 2));
        writer.AddTensor(prefix + ".wscales", TensorDType.BF16, [k / 64, n], Bf16(k / 64 * n, _ => random.Around(scale)));
        writer.AddTensor(prefix + ".bias", TensorDType.BF16, [n], Bf16(n, _ => kind == Kind.NoBias ? 0 : random.Symmetric(0.02)));
        byte[] smooth = Bf16(k, _ => (float)Math.Pow(2, random.Symmetric(1)));
        writer.AddTensor(prefix + ".smooth_factor", TensorDType.BF16, [k], kind == Kind.FusedSmooth ? Bf16(k, _ => 1) : smooth);
        writer.AddTensor(prefix + ".smooth_factor_orig", TensorDType.BF16, [k], smooth);
        double down = Math.Sqrt(3.0 / k), up = 0.25 * Math.Sqrt(3.0 / Rank);
        writer.AddTensor(prefix + ".proj_down", TensorDType.BF16, [k, Rank], Bf16(k * Rank, _ => random.Symmetric(down)));
        writer.AddTensor(prefix + ".proj_up", TensorDType.BF16, [n, Rank], Bf16(n * Rank, _ => random.Symmetric(up)));
    }

    private static float RoundedToBf16(float value) => BitConverter.Int32BitsToSingle(SyntheticWeights.Bf16(value) << 16);

    // count BF16 values, little-endian.
    private static byte[] Bf16(long count, Func<long, float> value)
    {
        var bytes = new byte[2 * count];
        for (long i = 0; i < count; i++)
        {
            ushort bits = SyntheticWeights.Bf16(value(i));
            bytes[2 * i] = (byte)bits;
            bytes[(2 * i) + 1] = (byte)(bits >> 8);
        }

        return bytes;
    }

    /// <summary>One seeded stream for the whole file: the same bytes on every run.</summary>
    private sealed class Draws(long seed)
    {
        private SyntheticWeights.SplitMix _bits = new(seed);

        /// <summary>Uniform in [0.5, 1.5] x mean.</summary>
        public float Around(double mean) => (float)(mean * (0.5 + _bits.NextUniform()));

        /// <summary>Uniform in [-limit, limit].</summary>
        public float Symmetric(double limit) => (float)(limit * ((2 * _bits.NextUniform()) - 1));

        public byte[] Bytes(long count)
        {
            var bytes = new byte[count];  // every size here is a multiple of 8
            for (long i = 0; i < count; i += 8)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan((int)i, 8), _bits.NextBits());
            }

            return bytes;
        }
    }
}
