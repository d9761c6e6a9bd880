using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using SvdQuant.Formats;
using SvdQuant.Cli.Demo;
using SvdQuant.Models;

namespace SvdQuant.Benchmarks;

/// <summary>
/// The weight memory of FLUX.1-dev (19 double and 38 single blocks) in each precision, against
/// BF16 (issue 6: quantized at most 1/3.5 of it). Loads real models at FLUX.1-dev's config with
/// (1, 1), (2, 1) and (1, 2) blocks (the config needs at least one of each) and extrapolates
/// bytes = rest + 19 x double + 38 x single from their differences, so every number is measured
/// on tensors of the real shapes. Run with <c>--memory</c>; prints markdown.
/// </summary>
internal static class FluxMemoryReport
{
    public const string Switch = "--memory";

    private const int Rank = 32;
    private const int DoubleBlocks = 19;
    private const int SingleBlocks = 38;
    private const double TargetRatio = 3.5;

    private enum Part
    {
        W4A4Values, W4A4Scales, Branch, Smooth, SmoothOrig, W4A4Bias, W4A16Values, W4A16Scales, W4A16Zeros, W4A16Bias,
        FloatMatrices, FloatVectors,
    }

    // The parts of a quantized file (in the order of Part), each with the bytes it takes in memory
    // per stored byte: the engine keeps 4-bit values packed and group scales, the low-rank branch
    // and BF16 float weight matrices in BF16 as stored, widens vectors (bias, smoothing, norms) to
    // fp32, reads smooth_factor_orig (Nunchaku's unfolded copy) for nothing and drops AWQ zero
    // points that equal -8 x scale (symmetric, as the quantizer writes them).
    private static readonly (string Name, double MemoryPerFileByte)[] Parts =
    [
        ("W4A4 packed values (qweight, 4 bit)", 1),
        ("W4A4 group scales (wscales, 1 per 64)", 1),
        ($"W4A4 low-rank branch r{Rank} (proj_down, proj_up)", 1),
        ("W4A4 smoothing (smooth_factor)", 2),
        ("W4A4 smooth_factor_orig (file only)", 0),
        ("W4A4 bias", 2),
        ("W4A16 adaLN packed values (AWQ qweight)", 1),
        ("W4A16 adaLN group scales (wscales)", 1),
        ("W4A16 adaLN zero points (wzeros, file only)", 0),
        ("W4A16 adaLN bias", 2),
        ("float weight matrices: embedders, norm_out, proj_out", 1),
        ("float vectors: their biases, q/k norms", 2),
    ];

    public static void Run(TextWriter output)
    {
        using var engine = new Engine();
        Measurement[] m = [Measure(engine, 1, 1), Measure(engine, 2, 1), Measure(engine, 1, 2)];
        Costs Of(Func<Measurement, double> quantity) => Costs.From(quantity(m[0]), quantity(m[1]), quantity(m[2]));

        Costs parameters = Of(x => x.Parameters);
        Costs bf16 = Of(x => 2.0 * x.Parameters);
        double budget = bf16.Flux1Dev / TargetRatio;
        output.WriteLine($"## Memory of FLUX.1-dev ({DoubleBlocks} double + {SingleBlocks} single blocks, width 3072, joint_attention_dim 4096, pooled 768, guidance)");
        output.WriteLine();
        output.WriteLine(Invariant($"Parameters: {parameters.Double / 1e6:F1} M per double block, {parameters.Single / 1e6:F1} M per single block, {parameters.Base / 1e6:F1} M outside the blocks; {parameters.Flux1Dev / 1e9:F3} B in all. Target: at most BF16 / {TargetRatio} = {budget / 1e9:F2} GB."));
        output.WriteLine();
        output.WriteLine("| | per double block | per single block | outside the blocks | FLUX.1-dev | BF16 / this |");
        output.WriteLine("|---|---:|---:|---:|---:|---:|");
        void Row(string name, Costs c) => output.WriteLine(Invariant(
            $"| {name} | {c.Double / 1e6:F1} MB | {c.Single / 1e6:F1} MB | {c.Base / 1e6:F1} MB | {c.Flux1Dev / 1e9:F3} GB | {bf16.Flux1Dev / c.Flux1Dev:F2} |"));
        Row("BF16 (2 bytes x parameters)", bf16);
        Row("BF16 diffusers file (synthetic, measured)", Of(x => x.Bf16FileBytes));
        Row("float, in memory", Of(x => x.FloatBytes));
        Row("W4A16 blocks, in memory", Of(x => x.W4A16Bytes));
        Row("W4A4 naive (RTN at load), in memory", Of(x => x.W4A4NaiveBytes));
        Row($"SVDQuant W4A4 r{Rank}, in memory", Of(x => x.SvdQuantBytes));
        Row($"SVDQuant W4A4 r{Rank}, file", Of(x => x.SvdQuantFileBytes));
        output.WriteLine();

        output.WriteLine($"### SVDQuant W4A4 r{Rank} by part (FLUX.1-dev, extrapolated the same way)");
        output.WriteLine();
        output.WriteLine("File bytes are the file's tensors summed by kind; memory bytes apply how the engine stores each kind (4-bit values, group scales, the branch and BF16 weight matrices as stored; vectors widened to fp32; `smooth_factor_orig` and symmetric AWQ zero points not kept), checked against the measured total below.");
        output.WriteLine();
        output.WriteLine("| part | file | in memory | share of memory | BF16 / memory, were this part kept 16-bit as in the file |");
        output.WriteLine("|---|---:|---:|---:|---:|");
        Costs memory = Of(x => x.SvdQuantBytes);
        double derived = 0, widened = 0;
        for (int p = 0; p < Parts.Length; p++)
        {
            Costs file = Of(x => x.FileParts[p]);
            double inMemory = file.Flux1Dev * Parts[p].MemoryPerFileByte;
            derived += inMemory;
            string narrowed = "-";
            if (Parts[p].MemoryPerFileByte > 1)
            {
                widened += inMemory - file.Flux1Dev;
                narrowed = Invariant($"{bf16.Flux1Dev / (memory.Flux1Dev - (inMemory - file.Flux1Dev)):F2}");
            }

            output.WriteLine(Invariant(
                $"| {Parts[p].Name} | {file.Flux1Dev / 1e9:F3} GB | {inMemory / 1e9:F3} GB | {100 * inMemory / memory.Flux1Dev:F1}% | {narrowed} |"));
        }

        Costs header = Of(x => x.SvdQuantFileBytes - x.FileParts.Sum());
        output.WriteLine(Invariant($"| safetensors header | {header.Flux1Dev / 1e9:F3} GB | 0 | | |"));
        output.WriteLine(Invariant($"| **total** | {Of(x => x.SvdQuantFileBytes).Flux1Dev / 1e9:F3} GB | {derived / 1e9:F3} GB (measured {memory.Flux1Dev / 1e9:F3} GB, {derived - memory.Flux1Dev:+0;-0} bytes apart) | 100% | every part 16-bit: {bf16.Flux1Dev / (memory.Flux1Dev - widened):F2} |"));
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static Measurement Measure(Engine engine, int layers, int singleLayers)
    {
        SyntheticFluxConfig config = SyntheticFluxConfig.Flux1Dev(layers, singleLayers);
        Console.Error.WriteLine($"// {config.Key}: generating / quantizing (cached in {SyntheticFlux.CacheRoot})");
        string folder = SyntheticFlux.Folder(config);
        string quantized = SyntheticFlux.SvdQuantFile(engine, config, Rank);

        long Bytes(string path, LinearScheme precision, out long parameters)
        {
            using FluxTransformer model = FluxTransformer.Load(engine, path, new FluxLoadOptions { BlockScheme = precision });
            parameters = model.Info.ParameterCount;
            return model.Info.WeightBytes;
        }

        long floatBytes = Bytes(folder, LinearScheme.Float, out long parameterCount);
        return new Measurement(
            parameterCount,
            floatBytes,
            Bytes(folder, LinearScheme.W4A16, out _),
            Bytes(folder, LinearScheme.W4A4, out _),
            Bytes(quantized, LinearScheme.Float, out _),
            Directory.GetFiles(folder, "*.safetensors").Sum(f => new FileInfo(f).Length),
            new FileInfo(quantized).Length,
            FileParts(quantized));
    }

    // Sums the file's tensor bytes by part (the order of Parts). A layer is quantized when it has a
    // qweight: I8 for W4A4, I32 for AWQ W4A16; every other tensor is float.
    private static double[] FileParts(string path)
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        var qweightType = new Dictionary<string, TensorDType>();
        foreach (TensorInfo t in file.Tensors.Where(t => t.Name.EndsWith(".qweight", StringComparison.Ordinal)))
        {
            qweightType[Layer(t.Name)] = t.DType;
        }

        var sums = new double[Parts.Length];
        foreach (TensorInfo t in file.Tensors)
        {
            string kind = t.Name[(t.Name.LastIndexOf('.') + 1)..];
            Part part = !qweightType.TryGetValue(Layer(t.Name), out TensorDType type)
                    ? (t.Shape.Count == 2 ? Part.FloatMatrices : Part.FloatVectors)
                : type == TensorDType.I32 ? kind switch
                {
                    "qweight" => Part.W4A16Values,
                    "wscales" => Part.W4A16Scales,
                    "wzeros" => Part.W4A16Zeros,
                    "bias" => Part.W4A16Bias,
                    _ => throw new InvalidDataException($"{path}: unexpected tensor {t.Name} in a W4A16 layer"),
                }
                : kind switch
                {
                    "qweight" => Part.W4A4Values,
                    "wscales" => Part.W4A4Scales,
                    "proj_down" or "proj_up" => Part.Branch,
                    "smooth_factor" => Part.Smooth,
                    "smooth_factor_orig" => Part.SmoothOrig,
                    "bias" => Part.W4A4Bias,
                    _ => throw new InvalidDataException($"{path}: unexpected tensor {t.Name} in a W4A4 layer"),
                };
            sums[(int)part] += t.ByteSize;
        }

        return sums;
    }

    private static string Layer(string tensor) => tensor[..tensor.LastIndexOf('.')];

    private sealed record Measurement(
        long Parameters, long FloatBytes, long W4A16Bytes, long W4A4NaiveBytes, long SvdQuantBytes, long Bf16FileBytes,
        long SvdQuantFileBytes, double[] FileParts);

    /// <summary>A quantity split into the part outside the blocks and the cost of one block of each kind.</summary>
    private readonly record struct Costs(double Base, double Double, double Single)
    {
        public double Flux1Dev => Base + (DoubleBlocks * Double) + (SingleBlocks * Single);

        /// <summary>From the quantity measured on models of (1, 1), (2, 1) and (1, 2) blocks.</summary>
        public static Costs From(double oneOne, double twoOne, double oneTwo)
        {
            double perDouble = twoOne - oneOne, perSingle = oneTwo - oneOne;
            return new Costs(oneOne - perDouble - perSingle, perDouble, perSingle);
        }
    }
}
