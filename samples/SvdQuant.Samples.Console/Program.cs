using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using SvdQuant;
using SvdQuant.Generation;
using SvdQuant.Models;
using SvdQuant.Quantization;

// The three things a first program does with SvdQuant.Interop, one per subcommand. Bad arguments: exit 2.
const string Usage = """
    usage:
      svdquant-sample quantize [--rank R] [--seed S]
          quantizes a synthetic 256 x 512 layer with outlier channels to 4 bits (SVDQuant and plain
          round-to-nearest) and prints each one's output error against the float layer
      svdquant-sample flux MODEL
          loads a FLUX transformer (a diffusers folder or a 4-bit checkpoint) and runs one forward
      svdquant-sample generate PIPELINE_FOLDER PROMPT OUT.png [--size WxH] [--steps N] [--seed S]
          makes a picture with a diffusers FLUX pipeline folder and writes it as a PNG
    """;

try
{
    return args.FirstOrDefault() switch
    {
        "quantize" => QuantizeSample.Run(new Arguments(args, 1, 0, "--rank", "--seed")),
        "flux" => FluxSample.Run(new Arguments(args, 1, 1)),
        "generate" => GenerateSample.Run(new Arguments(args, 1, 3, "--size", "--steps", "--seed")),
        "-h" or "--help" => Help(),
        null => throw new UsageException("no command given"),
        var other => throw new UsageException($"unknown command '{other}'"),
    };
}
catch (UsageException e)
{
    Console.Error.WriteLine($"svdquant-sample: {e.Message}");
    Console.Error.WriteLine(Usage);
    return 2;
}
catch (SvdQuantException e)
{
    Console.Error.WriteLine($"svdquant-sample: {e.Message}");
    return 1;
}

static int Help()
{
    Console.WriteLine(Usage);
    return 0;
}

/// <summary>Bad command-line input: the message and the usage go to stderr, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>A subcommand's positional arguments (exactly <c>positional</c>) and its <c>--name value</c> options.</summary>
internal sealed class Arguments
{
    private readonly System.Collections.Generic.Dictionary<string, string> _options = new();

    public Arguments(string[] args, int start, int positional, params string[] optionNames)
    {
        var values = new System.Collections.Generic.List<string>();
        for (int i = start; i < args.Length; i++)
        {
            if (args[i].StartsWith("--", StringComparison.Ordinal))
            {
                if (!optionNames.Contains(args[i]))
                {
                    throw new UsageException($"unknown option '{args[i]}' for {args[0]}");
                }

                if (i + 1 >= args.Length)
                {
                    throw new UsageException($"{args[i]} needs a value");
                }

                _options[args[i]] = args[++i];
            }
            else
            {
                values.Add(args[i]);
            }
        }

        if (values.Count != positional)
        {
            throw new UsageException($"{args[0]} takes {positional} argument(s), got {values.Count}");
        }

        Positional = values.ToArray();
    }

    public string[] Positional { get; }

    public bool Has(string name) => _options.ContainsKey(name);

    public int Int(string name, int fallback, int min, int max)
    {
        if (!_options.TryGetValue(name, out string? text))
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) || value < min || value > max)
        {
            throw new UsageException($"{name} must be an integer in [{min}, {max}], not '{text}'");
        }

        return value;
    }

    public (int Width, int Height) Size(string name, int fallback)
    {
        if (!_options.TryGetValue(name, out string? text))
        {
            return (fallback, fallback);
        }

        string[] parts = text.Split('x');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int w) || !int.TryParse(parts[1], out int h) || w < 16 || h < 16 || w > 4096 || h > 4096)
        {
            throw new UsageException($"{name} must be WIDTHxHEIGHT, each 16 to 4096, not '{text}'");
        }

        return (w, h);
    }
}

/// <summary>One layer to 4 bits, and how far its output is from the float layer's.</summary>
internal static class QuantizeSample
{
    private const int Tokens = 64, InFeatures = 512, OutFeatures = 256;

    public static int Run(Arguments a)
    {
        int rank = a.Int("--rank", 32, 1, 256);
        var random = new Random(a.Int("--seed", 1, 0, int.MaxValue));
        float[,] weight = Matrix(random, OutFeatures, InFeatures, 0.05f);
        float[,] calibration = Activations(random);
        float[,] x = Activations(random);
        float[,] expected = MatMulTransposed(x, weight);

        using var engine = new Engine();
        Console.WriteLine($"engine {Engine.Version} on {engine.Backend} ({engine.CpuLevel}); layer {OutFeatures} x {InFeatures}, rank {rank}");
        foreach (QuantizationMethod method in new[] { QuantizationMethod.SvdQuant, QuantizationMethod.Rtn })
        {
            using QuantizedLayers q = Quantizer.Quantize(engine, calibration, weight, options: new QuantizerOptions { Method = method, Rank = rank });
            float[,] y = q.Layers[0].Forward(engine, x);
            Console.WriteLine($"  {method,-9} relative output error {RelativeError(y, expected):F4}");
        }

        return 0;
    }

    // Activations with a few large channels: the outliers SVDQuant's smoothing and low-rank branch absorb.
    private static float[,] Activations(Random random)
    {
        float[,] x = Matrix(random, Tokens, InFeatures, 1f);
        for (int t = 0; t < Tokens; t++)
        {
            for (int c = 0; c < InFeatures; c += 64)
            {
                x[t, c] *= 30f;
            }
        }

        return x;
    }

    private static float[,] Matrix(Random random, int rows, int cols, float scale)
    {
        var m = new float[rows, cols];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                m[r, c] = scale * (float)(random.NextDouble() * 2 - 1);
            }
        }

        return m;
    }

    // X W^T in double: the float layer's output.
    private static float[,] MatMulTransposed(float[,] x, float[,] w)
    {
        var y = new float[x.GetLength(0), w.GetLength(0)];
        for (int t = 0; t < x.GetLength(0); t++)
        {
            for (int n = 0; n < w.GetLength(0); n++)
            {
                double sum = 0;
                for (int k = 0; k < x.GetLength(1); k++)
                {
                    sum += (double)x[t, k] * w[n, k];
                }

                y[t, n] = (float)sum;
            }
        }

        return y;
    }

    private static double RelativeError(float[,] actual, float[,] expected)
    {
        double diff = 0, norm = 0;
        foreach (var (a, e) in actual.Cast<float>().Zip(expected.Cast<float>()))
        {
            diff += (a - e) * (double)(a - e);
            norm += e * (double)e;
        }

        return Math.Sqrt(diff / norm);
    }
}

/// <summary>One forward of a FLUX transformer on a 256 x 256 picture's worth of tokens.</summary>
internal static class FluxSample
{
    private const int ImageTokens = 256, TextTokens = 16; // 16 x 16 patches: 256 x 256 pixels

    public static int Run(Arguments a)
    {
        using var engine = new Engine();
        var clock = Stopwatch.StartNew();
        using FluxTransformer model = FluxTransformer.Load(engine, a.Positional[0]);
        FluxInfo info = model.Info;
        Console.WriteLine($"loaded {info.Layers} + {info.SingleLayers} blocks, {info.BlockScheme} ({info.BlockFormat}), {info.WeightBytes / 1e6:F0} MB, in {clock.Elapsed.TotalSeconds:F1} s");

        int side = (int)Math.Sqrt(ImageTokens);
        var imageIds = new float[ImageTokens * 3];
        for (int i = 0; i < ImageTokens; i++)
        {
            imageIds[i * 3 + 1] = i / side;
            imageIds[i * 3 + 2] = i % side;
        }

        var inputs = new FluxInputs
        {
            Batch = 1, ImageTokens = ImageTokens, TextTokens = TextTokens,
            HiddenStates = Wave(ImageTokens * info.ImageTokenWidth, 0.1f),
            EncoderHiddenStates = Wave(TextTokens * info.JointAttentionDim, 0.7f),
            PooledProjections = Wave(info.PooledProjectionDim, 1.3f),
            Timestep = [0.5f],
            Guidance = info.GuidanceEmbeds ? [3.5f] : null,
            ImageIds = imageIds,
            TextIds = new float[TextTokens * 3],
        };
        clock.Restart();
        float[] output = model.Forward(engine, inputs);
        double rms = Math.Sqrt(output.Average(v => (double)v * v));
        Console.WriteLine($"forward [1, {ImageTokens}, {info.OutputTokenWidth}] in {clock.Elapsed.TotalSeconds:F2} s, output rms {rms:F4}");
        return 0;
    }

    // Smooth deterministic inputs: sin(0.37 i + phase).
    private static float[] Wave(int count, float phase) => Enumerable.Range(0, count).Select(i => MathF.Sin(0.37f * i + phase)).ToArray();
}

/// <summary>Prompt to PNG with a diffusers FLUX folder, printing each step.</summary>
internal static class GenerateSample
{
    public static int Run(Arguments a)
    {
        (string folder, string prompt, string output) = (a.Positional[0], a.Positional[1], a.Positional[2]);
        // Every argument is checked before anything is loaded.
        (int width, int height) = a.Size("--size", 512);
        int? steps = a.Has("--steps") ? a.Int("--steps", 0, 1, 1000) : null;
        ulong seed = (ulong)a.Int("--seed", 0, 0, int.MaxValue);
        if (!FluxPipeline.IsPipelineFolder(folder))
        {
            throw new UsageException($"{folder} is not a diffusers pipeline folder (no model_index.json)");
        }

        using var engine = new Engine();
        using FluxPipeline pipeline = FluxPipeline.Load(engine, folder);
        GenerationOptions options = pipeline.DefaultOptions(); // the folder's steps and scheduler
        (options.Width, options.Height, options.Seed) = (width, height, seed);
        options.Steps = steps ?? options.Steps;

        var progress = new ConsoleProgress();
        FluxPipelineResult result = pipeline.Generate(prompt, options, progress);
        result.Image.SavePng(output);
        foreach (string warning in result.Warnings)
        {
            Console.WriteLine($"warning: {warning}");
        }

        Console.WriteLine($"{result.Image.Width} x {result.Image.Height} -> {output}");
        return 0;
    }

    // Told on the generating thread (here the main one) after every step.
    private sealed class ConsoleProgress : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress p) =>
            Console.WriteLine($"step {p.Step}/{p.Total}  {p.SecondsPerStep:F2} s/step, {p.Remaining.TotalSeconds:F0} s left");
    }
}
