using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using SvdQuant.Cli.Demo;
using SvdQuant.Formats;
using SvdQuant.Models;

namespace SvdQuant.Tests;

/// <summary>One module of a LoRA file a test writes: down A [r, in], up B [out, r], and its alpha or none.</summary>
internal sealed class TestLoraModule(string name, float[,] down, float[,] up, float? alpha = null)
{
    /// <summary>The module's key prefix in the file (the key style decides the suffixes).</summary>
    public string Name { get; } = name;

    public float[,] Down { get; } = down;

    public float[,] Up { get; } = up;

    public float? Alpha { get; } = alpha;

    public int Rank => Down.GetLength(0);

    /// <summary>alpha / rank, with alpha defaulting to the rank.</summary>
    public double Scale => (Alpha ?? Rank) / (double)Rank;
}

/// <summary>
/// LoRA files in the published layouts (diffusers/PEFT, kohya, BFL) for flux-tiny, and flux-tiny with a
/// LoRA merged into its float weights (W += scale * B A in float64): the reference a LoRA on the model
/// must equal. flux-tiny (see its config.json): inner width 64 (4 heads of 16), MLP 256, 2 double and
/// 2 single blocks.
/// </summary>
internal static class TestLoras
{
    public const int Inner = 64, Mlp = 256;

    public static readonly string FluxTiny = Path.Combine(AppContext.BaseDirectory, "data", "flux-tiny");

    /// <summary>A Gaussian matrix N(0, stddev^2), the same for a seed.</summary>
    public static float[,] Matrix(int rows, int columns, double stddev, int seed) =>
        new GaussianRandom(seed).NextMatrix(rows, columns, stddev);

    /// <summary>A module with Gaussian factors of rank <paramref name="rank"/> for a linear [out, in].</summary>
    public static TestLoraModule Module(string name, int rank, int inFeatures, int outFeatures, float? alpha, int seed) =>
        new(name, Matrix(rank, inFeatures, 0.3, seed), Matrix(outFeatures, rank, 0.3, seed + 1000), alpha);

    /// <summary>
    /// Writes the modules with the key suffixes of <paramref name="style"/> (the names are the file's
    /// prefixes, e.g. <c>transformer.transformer_blocks.0.attn.to_q</c>, <c>lora_unet_double_blocks_0_img_attn_qkv</c>
    /// or <c>double_blocks.0.img_attn.qkv</c>), alpha as a scalar of the same dtype, plus <paramref name="extra"/> F32 tensors.
    /// </summary>
    public static void Write(
        string path, LoraKeyStyle style, IEnumerable<TestLoraModule> modules, TensorDType dtype = TensorDType.F32,
        params (string Name, float[] Values)[] extra)
    {
        (string down, string up) = style == LoraKeyStyle.Kohya ? (".lora_down.weight", ".lora_up.weight") : (".lora_A.weight", ".lora_B.weight");
        using var writer = new SafeTensorsWriter();
        foreach (TestLoraModule m in modules)
        {
            writer.AddTensor(m.Name + down, dtype, [m.Down.GetLength(0), m.Down.GetLength(1)], Encode(Flatten(m.Down), dtype));
            writer.AddTensor(m.Name + up, dtype, [m.Up.GetLength(0), m.Up.GetLength(1)], Encode(Flatten(m.Up), dtype));
            if (m.Alpha is float alpha)
            {
                writer.AddTensor(m.Name + ".alpha", dtype, [], Encode([alpha], dtype));
            }
        }

        foreach ((string name, float[] values) in extra)
        {
            writer.AddTensor(name, [values.Length], values);
        }

        writer.Save(path);
    }

    /// <summary>
    /// flux-tiny in <paramref name="folder"/> with <c>W += delta</c> for each (weight name, delta) in float64,
    /// rounded once to F32: the model a LoRA on flux-tiny must equal.
    /// </summary>
    public static void WriteMergedFluxTiny(string folder, IReadOnlyDictionary<string, double[,]> deltas)
    {
        Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(FluxTiny, "config.json"), Path.Combine(folder, "config.json"));
        using SafeTensorsFile original = SafeTensorsFile.Open(Path.Combine(FluxTiny, "diffusion_pytorch_model.safetensors"));
        using var writer = new SafeTensorsWriter();
        int merged = 0;
        foreach (TensorInfo t in original.Tensors)
        {
            float[] values = original.ReadFloats(t.Name);
            if (deltas.TryGetValue(t.Name, out double[,]? delta))
            {
                if (delta.GetLength(0) != t.Shape[0] || delta.GetLength(1) != t.Shape[1])
                {
                    throw new ArgumentException($"delta of {t.Name} is [{delta.GetLength(0)}, {delta.GetLength(1)}], the weight [{string.Join(", ", t.Shape)}]");
                }

                int columns = delta.GetLength(1);
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = (float)(values[i] + delta[i / columns, i % columns]);
                }

                merged++;
            }

            writer.AddTensor(t.Name, [.. t.Shape], values);
        }

        if (merged != deltas.Count)
        {
            throw new ArgumentException($"{deltas.Count - merged} deltas name no weight of flux-tiny");
        }

        writer.Save(Path.Combine(folder, "diffusion_pytorch_model.safetensors"));
    }

    /// <summary>scale * B A [out, in] in float64.</summary>
    public static double[,] Delta(TestLoraModule m, double strength = 1)
    {
        int outFeatures = m.Up.GetLength(0), inFeatures = m.Down.GetLength(1);
        var delta = new double[outFeatures, inFeatures];
        for (int o = 0; o < outFeatures; o++)
        {
            for (int i = 0; i < inFeatures; i++)
            {
                double sum = 0;
                for (int r = 0; r < m.Rank; r++)
                {
                    sum += (double)m.Up[o, r] * m.Down[r, i];
                }

                delta[o, i] = strength * m.Scale * sum;
            }
        }

        return delta;
    }

    /// <summary>Rows [first, first + count) of a matrix.</summary>
    public static double[,] Rows(double[,] matrix, int first, int count)
    {
        int columns = matrix.GetLength(1);
        var rows = new double[count, columns];
        for (int r = 0; r < count; r++)
        {
            for (int c = 0; c < columns; c++)
            {
                rows[r, c] = matrix[first + r, c];
            }
        }

        return rows;
    }

    /// <summary>
    /// Modules of different linears as one fused module over their stacked outputs: down stacked [sum r_i, in],
    /// up block-diagonal [sum out_i, sum r_i], each part's scale folded into its up block and alpha = the fused
    /// rank (scale 1), so the fused module adds exactly the parts' deltas, stacked by rows.
    /// </summary>
    public static TestLoraModule Fuse(string name, params TestLoraModule[] parts) => Combine(name, parts, blockDiagonal: true);

    /// <summary>
    /// Modules of the same linear as one module: down stacked [sum r_i, in], up side by side [out, sum r_i], scales
    /// folded into up and alpha = the total rank (scale 1), so it adds the sum of the parts' deltas.
    /// </summary>
    public static TestLoraModule Concatenate(string name, params TestLoraModule[] parts) => Combine(name, parts, blockDiagonal: false);

    private static TestLoraModule Combine(string name, TestLoraModule[] parts, bool blockDiagonal)
    {
        int rank = parts.Sum(p => p.Rank), inFeatures = parts[0].Down.GetLength(1);
        int outFeatures = blockDiagonal ? parts.Sum(p => p.Up.GetLength(0)) : parts[0].Up.GetLength(0);
        var down = new float[rank, inFeatures];
        var up = new float[outFeatures, rank];
        int r0 = 0, o0 = 0;
        foreach (TestLoraModule p in parts)
        {
            for (int r = 0; r < p.Rank; r++)
            {
                for (int i = 0; i < inFeatures; i++)
                {
                    down[r0 + r, i] = p.Down[r, i];
                }

                for (int o = 0; o < p.Up.GetLength(0); o++)
                {
                    up[o0 + o, r0 + r] = (float)(p.Up[o, r] * p.Scale);
                }
            }

            r0 += p.Rank;
            o0 += blockDiagonal ? p.Up.GetLength(0) : 0;
        }

        return new TestLoraModule(name, down, up, rank);
    }

    /// <summary>The same module under another name.</summary>
    public static TestLoraModule Renamed(this TestLoraModule m, string name) => new(name, m.Down, m.Up, m.Alpha);

    /// <summary>Values rounded to <paramref name="dtype"/> (round to nearest even), as float.</summary>
    public static float[,] RoundedTo(float[,] matrix, TensorDType dtype)
    {
        var rounded = (float[,])matrix.Clone();
        Span<float> flat = MemoryMarshal.CreateSpan(ref rounded[0, 0], rounded.Length);
        for (int i = 0; i < flat.Length; i++)
        {
            flat[i] = dtype switch
            {
                TensorDType.F16 => (float)(Half)flat[i],
                TensorDType.BF16 => BitConverter.Int32BitsToSingle(ToBf16(flat[i]) << 16),
                _ => flat[i],
            };
        }

        return rounded;
    }

    public static float[] Flatten(float[,] matrix)
    {
        var flat = new float[matrix.Length];
        Buffer.BlockCopy(matrix, 0, flat, 0, flat.Length * sizeof(float));
        return flat;
    }

    /// <summary>max |a - b| / max |b|.</summary>
    public static double MaxRelativeDifference(float[] a, float[] b)
    {
        double difference = 0, scale = 0;
        for (int i = 0; i < b.Length; i++)
        {
            difference = Math.Max(difference, Math.Abs((double)a[i] - b[i]));
            scale = Math.Max(scale, Math.Abs(b[i]));
        }

        return difference / scale;
    }

    private static byte[] Encode(float[] values, TensorDType dtype)
    {
        switch (dtype)
        {
            case TensorDType.F32:
                return MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
            case TensorDType.F16:
            case TensorDType.BF16:
                var bytes = new byte[values.Length * 2];
                for (int i = 0; i < values.Length; i++)
                {
                    ushort h = dtype == TensorDType.F16 ? BitConverter.HalfToUInt16Bits((Half)values[i]) : ToBf16(values[i]);
                    bytes[2 * i] = (byte)h;
                    bytes[(2 * i) + 1] = (byte)(h >> 8);
                }

                return bytes;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "F32, F16 or BF16");
        }
    }

    // Round to nearest even, as torch's .to(torch.bfloat16) (no NaNs here).
    private static ushort ToBf16(float value)
    {
        int bits = BitConverter.SingleToInt32Bits(value);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }
}
