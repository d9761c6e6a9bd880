using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NUnit.Framework;
using SvdQuant.Formats;

namespace SvdQuant.Tests;

/// <summary>
/// Issue 12, hostile numbers and mismatched files through the CLI: each is exit code 2 with one
/// line naming the problem and no output file, where each used to run with exit code 0 and write
/// NaN or silently wrong results.
/// </summary>
public sealed class CliHardeningTests : CliFixture
{
    [Test]
    public void LayerQuantize_HugeFiniteWeight_Exits2NamingTheValue()
    {
        // 1e20 squares to Inf in float: it used to give "calibration error NaN", a layer of NaN and exit 0.
        float[] weight = Gaussian(32 * 64, seed: 1);
        weight[(3 * 64) + 5] = 1e20f;
        string input = TempPath("L.safetensors"), output = TempPath("Q.safetensors");
        Write(input, ("weight", [32, 64], weight), ("calib", [16, 64], Gaussian(16 * 64, seed: 2)));

        CliResult result = Run("layer", "quantize", "--input", input, "--output", output, "--rank", "16");

        AssertRefused(result, output, "weight holds 1e+20 at row 3, column 5");
    }

    [Test]
    public void LayerRun_LayerWithInfSmooth_Exits2NamingFileAndTensor()
    {
        string input = TempPath("L.safetensors"), layer = TempPath("Q.safetensors");
        string broken = TempPath("broken.safetensors"), x = TempPath("X.safetensors"), y = TempPath("Y.safetensors");
        Write(input, ("weight", [32, 64], Gaussian(32 * 64, seed: 1)), ("calib", [16, 64], Gaussian(16 * 64, seed: 2)));
        Write(x, ("x", [4, 64], Gaussian(4 * 64, seed: 3)));
        (int quantized, _, string quantizeErrors) = Run("layer", "quantize", "--input", input, "--output", layer, "--rank", "16");
        Assert.That(quantized, Is.Zero, quantizeErrors);
        string smooth;
        using (SafeTensorsFile file = SafeTensorsFile.Open(layer))
        {
            smooth = file.Tensors.Single(t => t.Name.EndsWith(".smooth", StringComparison.Ordinal) || t.Name.EndsWith(".smooth_factor", StringComparison.Ordinal)).Name;
        }

        Rewrite(layer, broken, smooth, PositiveInfinity);
        CliResult result = Run("layer", "run", "--layer", broken, "--input", x, "--output", y);

        AssertRefused(result, y, broken, $"'{smooth}'", "(Inf)");
    }

    [Test]
    public void LayerRun_OutputPastOneArray_Exits2NamingTheRows()
    {
        // y [32769, 65536] holds more than 2^31 values: this used to be an unhandled OverflowException.
        string input = TempPath("L.safetensors"), layer = TempPath("Q.safetensors"), x = TempPath("X.safetensors"), y = TempPath("Y.safetensors");
        Write(input, ("weight", [65536, 64], Gaussian(65536 * 64, seed: 1)));
        AssertSucceeded(Run("layer", "quantize", "--input", input, "--output", layer, "--method", "rtn"));
        Write(x, ("x", [32769, 64], new float[32769 * 64]));

        AssertRefused(Run("layer", "run", "--layer", layer, "--input", x, "--output", y), y, "32,769 rows", "'y' [32769, 65536]");
    }

    [Test]
    public void FluxForward_ImgIdsStoredTransposed_Exits2NamingIt()
    {
        // [3, S] holds as many values as [S, 3]: the CLI used to rebuild [S, 3] from the count and run.
        string inputs = TempPath("inputs.safetensors"), output = TempPath("out.safetensors");
        RewriteInputs(inputs, "img_ids", (shape, values) => (new[] { shape[1], shape[0] }, Transpose(values, shape[0], shape[1])));

        CliResult result = Run("flux", "forward", "--model", FluxTiny, "--inputs", inputs, "--output", output);

        AssertRefused(result, output, "img_ids has shape [3, ", "expected [");
    }

    [Test]
    public void FluxForward_PooledProjectionsOfTheWrongWidth_Exits2NamingIt()
    {
        string inputs = TempPath("inputs.safetensors"), output = TempPath("out.safetensors");
        RewriteInputs(inputs, "pooled_projections", (shape, values) => (new[] { shape[0] * 2, shape[1] / 2 }, values));

        CliResult result = Run("flux", "forward", "--model", FluxTiny, "--inputs", inputs, "--output", output);

        // flux-tiny: B = 2, pooled_projection_dim = 24; the same 48 values stored as [4, 12].
        AssertRefused(result, output, "pooled_projections has shape [4, 12], expected [2, 24]");
    }

    [Test]
    public void FluxForward_NaNInTxtIds_Exits2NamingIt()
    {
        string inputs = TempPath("inputs.safetensors"), output = TempPath("out.safetensors");
        RewriteInputs(inputs, "txt_ids", (shape, values) =>
        {
            values[4] = float.NaN;
            return (shape, values);
        });

        CliResult result = Run("flux", "forward", "--model", FluxTiny, "--inputs", inputs, "--output", output);

        AssertRefused(result, output, "txt_ids holds a non-finite value (NaN) at flat index 4");
    }

    [Test]
    public void FluxForward_ConfigWithFewerLayersThanTheFile_Exits2NamingTheUnusedTensors()
    {
        string model = TempPath("model"), output = TempPath("out.safetensors");
        Directory.CreateDirectory(model);
        File.Copy(Path.Combine(FluxTiny, "diffusion_pytorch_model.safetensors"), Path.Combine(model, "diffusion_pytorch_model.safetensors"));
        string config = File.ReadAllText(Path.Combine(FluxTiny, "config.json"));
        Assert.That(config, Does.Contain("\"num_layers\": 2"));
        File.WriteAllText(Path.Combine(model, "config.json"), config.Replace("\"num_layers\": 2", "\"num_layers\": 1"));

        CliResult result = Run(
            "flux", "forward", "--model", model, "--inputs", Path.Combine(FluxTiny, "inputs.safetensors"), "--output", output);

        AssertRefused(result, output, "the config does not use", "'transformer_blocks.1.");
    }

    private static void AssertRefused(CliResult result, string output, params string[] named)
    {
        AssertRejected(result, named);
        Assert.That(File.Exists(output), Is.False, "no output file");
    }

    private static float[] Gaussian(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count)
            .Select(_ => (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble())))
            .ToArray();
    }

    private static float[] Transpose(float[] values, long rows, long cols)
    {
        var t = new float[values.Length];
        for (long r = 0; r < rows; r++)
        {
            for (long c = 0; c < cols; c++)
            {
                t[(c * rows) + r] = values[(r * cols) + c];
            }
        }

        return t;
    }

    private static void Write(string path, params (string Name, long[] Shape, float[] Values)[] tensors)
    {
        using var writer = new SafeTensorsWriter();
        foreach ((string name, long[] shape, float[] values) in tensors)
        {
            writer.AddTensor(name, shape, values);
        }

        writer.Save(path);
    }

    // flux-tiny's inputs with one tensor replaced (as F32) by what `change` makes of it.
    private static void RewriteInputs(string path, string name, Func<long[], float[], (long[] Shape, float[] Values)> change)
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(Path.Combine(FluxTiny, "inputs.safetensors"));
        var tensors = new List<(string, long[], float[])>();
        foreach (TensorInfo t in file.Tensors)
        {
            (long[] shape, float[] values) = (t.Shape.ToArray(), file.ReadFloats(t.Name));
            if (t.Name == name)
            {
                (shape, values) = change(shape, values);
            }

            tensors.Add((t.Name, shape, values));
        }

        Assert.That(tensors.Any(t => t.Item1 == name), name);
        Write(path, tensors.ToArray());
    }

    // A copy of `from` with value [1] of tensor `name` set to `encode(dtype)`'s bytes; metadata kept.
    private static void Rewrite(string from, string to, string name, Func<TensorDType, byte[]> encode)
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(from);
        using var writer = new SafeTensorsWriter();
        foreach ((string key, string value) in file.Metadata)
        {
            writer.SetMetadata(key, value);
        }

        foreach (TensorInfo t in file.Tensors)
        {
            byte[] data = file.GetData(t.Name).ToArray();
            if (t.Name == name)
            {
                byte[] value = encode(t.DType);
                value.CopyTo(data, value.Length);
            }

            writer.AddTensor(t.Name, t.DType, t.Shape.ToArray(), data);
        }

        writer.Save(to);
    }

    private static byte[] PositiveInfinity(TensorDType dtype) => dtype switch
    {
        TensorDType.F32 => BitConverter.GetBytes(float.PositiveInfinity),
        TensorDType.F16 => BitConverter.GetBytes((Half)float.PositiveInfinity),
        TensorDType.BF16 => [0x80, 0x7F],
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a float dtype this test writes"),
    };
}
