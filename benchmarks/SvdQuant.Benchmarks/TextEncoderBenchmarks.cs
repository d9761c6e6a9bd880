using System;
using System.Globalization;
using System.IO;
using System.Threading.Tasks;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using SvdQuant.Formats;
using SvdQuant.Models;

namespace SvdQuant.Benchmarks;

/// <summary>
/// T5 encoder at T5-XXL's width (issue 15): one block of d_model 4096, d_ff 10240, 64 heads of 64 (FLUX.1's
/// text_encoder_2 has 24 of them) over 512 tokens (FLUX.1-dev's T5 length), float against W4A16, through
/// <see cref="T5TextEncoder"/>. The model is a synthetic transformers folder (BF16 weights N(0, 1 / fan_in),
/// a small vocabulary), cached in the temp folder. The whole encoder's time is about 24 times a row's (the
/// embedding gather and final norm are negligible); setup prints the weight memory of the block.
/// </summary>
[Config(typeof(TextEncoderConfig))]
public class TextEncoderBenchmarks
{
    /// <summary>Tokens per encode: FLUX.1-dev's max_sequence_length.</summary>
    public const int Tokens = 512;

    private const int ModelDim = 4096, FeedForwardDim = 10240, Heads = 64, HeadDim = 64, Vocabulary = 1024;

    private Engine _engine = null!;
    private T5TextEncoder _encoder = null!;
    private int[] _ids = null!;

    /// <summary>The cached synthetic folder.</summary>
    public static string Folder => Path.Combine(Path.GetTempPath(), "svdquant-synthetic-t5", "t5xxl-width-1-layer-v1");

    [GlobalSetup(Target = nameof(Float))]
    public void SetupFloat() => Load(LinearScheme.Float);

    [GlobalSetup(Target = nameof(W4A16))]
    public void SetupW4A16() => Load(LinearScheme.W4A16);

    [GlobalCleanup]
    public void Cleanup()
    {
        _encoder.Dispose();
        _engine.Dispose();
    }

    [Benchmark(Baseline = true, Description = "T5-XXL block, float, 512 tokens")]
    public float[] Float() => _encoder.Encode(_engine, _ids);

    [Benchmark(Description = "T5-XXL block, W4A16, 512 tokens")]
    public float[] W4A16() => _encoder.Encode(_engine, _ids);

    private void Load(LinearScheme scheme)
    {
        _engine = new Engine();
        _encoder = T5TextEncoder.Load(_engine, EnsureFolder(), scheme);
        _ids = new int[Tokens];
        for (int i = 0; i < Tokens; i++)
        {
            _ids[i] = (i * 37 + 11) % Vocabulary;
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"// T5 {_encoder.Info.Scheme}: {_encoder.Info.WeightBytes / 1e6:0.0} MB of weights for 1 block and a {Vocabulary}-token embedding"));
    }

    private static string EnsureFolder()
    {
        string weights = Path.Combine(Folder, "model.safetensors");
        if (File.Exists(weights))
        {
            return Folder;
        }

        Directory.CreateDirectory(Folder);
        File.WriteAllText(Path.Combine(Folder, "config.json"), string.Create(CultureInfo.InvariantCulture,
            $"{{\"architectures\": [\"T5EncoderModel\"], \"vocab_size\": {Vocabulary}, \"d_model\": {ModelDim}, \"d_kv\": {HeadDim}, \"d_ff\": {FeedForwardDim}, \"num_layers\": 1, \"num_heads\": {Heads}, \"relative_attention_num_buckets\": 32, \"relative_attention_max_distance\": 128, \"layer_norm_epsilon\": 1e-06, \"feed_forward_proj\": \"gated-gelu\"}}"));
        const int inner = Heads * HeadDim;
        using var writer = new SafeTensorsWriter();
        void Add(string name, int rows, int columns, double std, double mean = 0) =>
            writer.AddTensor(name, TensorDType.BF16, columns == 1 ? new long[] { rows } : new long[] { rows, columns }, Bf16(rows, columns, std, mean, StableSeed(name)));
        Add("shared.weight", Vocabulary, ModelDim, 1);
        Add("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", 32, Heads, 1);
        Add("encoder.block.0.layer.0.layer_norm.weight", ModelDim, 1, 0.1, 1);
        foreach (string projection in new[] { "q", "k", "v" })
        {
            Add($"encoder.block.0.layer.0.SelfAttention.{projection}.weight", inner, ModelDim, 1 / Math.Sqrt(ModelDim));
        }

        Add("encoder.block.0.layer.0.SelfAttention.o.weight", ModelDim, inner, 1 / Math.Sqrt(inner));
        Add("encoder.block.0.layer.1.layer_norm.weight", ModelDim, 1, 0.1, 1);
        Add("encoder.block.0.layer.1.DenseReluDense.wi_0.weight", FeedForwardDim, ModelDim, 1 / Math.Sqrt(ModelDim));
        Add("encoder.block.0.layer.1.DenseReluDense.wi_1.weight", FeedForwardDim, ModelDim, 1 / Math.Sqrt(ModelDim));
        Add("encoder.block.0.layer.1.DenseReluDense.wo.weight", ModelDim, FeedForwardDim, 1 / Math.Sqrt(FeedForwardDim));
        Add("encoder.final_layer_norm.weight", ModelDim, 1, 0.1, 1);
        writer.Save(weights);  // written under a temporary name and renamed: a cache hit is complete
        return Folder;
    }

    // FNV-1a of the name: string.GetHashCode differs per process.
    private static int StableSeed(string name)
    {
        uint hash = 2166136261;
        foreach (char c in name)
        {
            hash = (hash ^ c) * 16777619;
        }

        return unchecked((int)hash);
    }

    // mean + std * N(0, 1) (Box-Muller over a per-row SplitMix64), as BF16 bytes rounded to nearest even.
    private static byte[] Bf16(int rows, int columns, double std, double mean, int seed)
    {
        var bytes = new byte[checked(2L * rows * columns)];
        Parallel.For(0, rows, r =>
        {
            ulong state = ((ulong)(uint)seed << 32) ^ (ulong)r;
            double Uniform()
            {
                state += 0x9E3779B97F4A7C15UL;
                ulong z = state;
                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
                z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
                return ((z ^ (z >> 31)) >> 11) * (1.0 / (1UL << 53));
            }

            for (int c = 0; c < columns; c++)
            {
                double gaussian = Math.Sqrt(-2 * Math.Log(1 - Uniform())) * Math.Cos(2 * Math.PI * Uniform());
                uint bits = BitConverter.SingleToUInt32Bits((float)(mean + std * gaussian));
                ushort bf16 = (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
                long at = 2L * ((long)r * columns + c);
                bytes[at] = (byte)bf16;
                bytes[at + 1] = (byte)(bf16 >> 8);
            }
        });
        return bytes;
    }

    /// <summary>One encode takes seconds: one warm-up and five measured runs.</summary>
    private sealed class TextEncoderConfig : ManualConfig
    {
        public TextEncoderConfig()
        {
            AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(5).WithInvocationCount(1).WithUnrollFactor(1).WithId("TextEncoder"));
        }
    }
}
