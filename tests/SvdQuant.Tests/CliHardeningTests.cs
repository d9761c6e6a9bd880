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
public sealed class CliHardeningTests
{
    private static readonly string FluxTiny = Path.Combine(AppContext.BaseDirectory, "data", "flux-tiny");
    private string _dir = null!;

    [SetUp]
    public void Start() => _dir = Directory.CreateTempSubdirectory("svdq-cli-hardening-").FullName;

    [TearDown]
    public void Stop() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void LayerQuantize_HugeFiniteWeight_Exits2NamingTheValue()
    {
        // 1e20 squares to Inf in float: it used to give "calibration error NaN", a layer of NaN and exit 0.
        float[] weight = Gaussian(32 * 64, seed: 1);
        weight[(3 * 64) + 5] = 1e20f;
        string input = Path.Combine(_dir, "L.safetensors"), output = Path.Combine(_dir, "Q.safetensors");
        Write(input, ("weight", [32, 64], weight), ("calib", [16, 64], Gaussian(16 * 64, seed: 2)));

        (int exitCode, _, string errors) = CliProcess.Run("layer", "quantize", "--input", input, "--output", output, "--rank", "16");

        AssertRefused(exitCode, errors, output, "weight holds 1e+20 at row 3, column 5");
    }

    [Test]
    public void LayerRun_LayerWithInfSmooth_Exits2NamingFileAndTensor()
    {
        string input = Path.Combine(_dir, "L.safetensors"), layer = Path.Combine(_dir, "Q.safetensors");
        string broken = Path.Combine(_dir, "broken.safetensors"), x = Path.Combine(_dir, "X.safetensors"), y = Path.Combine(_dir, "Y.safetensors");
        Write(input, ("weight", [32, 64], Gaussian(32 * 64, seed: 1)), ("calib", [16, 64], Gaussian(16 * 64, seed: 2)));
        Write(x, ("x", [4, 64], Gaussian(4 * 64, seed: 3)));
        (int quantized, _, string quantizeErrors) = CliProcess.Run("layer", "quantize", "--input", input, "--output", layer, "--rank", "16");
        Assert.That(quantized, Is.Zero, quantizeErrors);
        string smooth;
        using (SafeTensorsFile file = SafeTensorsFile.Open(layer))
        {
            smooth = file.Tensors.Single(t => t.Name.EndsWith(".smooth", StringComparison.Ordinal) || t.Name.EndsWith(".smooth_factor", StringComparison.Ordinal)).Name;
        }

        Rewrite(layer, broken, smooth, PositiveInfinity);
        (int exitCode, _, string errors) = CliProcess.Run("layer", "run", "--layer", broken, "--input", x, "--output", y);

        AssertRefused(exitCode, errors, y, broken, $"'{smooth}'", "(Inf)");
    }

    [Test]
    public void FluxForward_ImgIdsStoredTransposed_Exits2NamingIt()
    {
        // [3, S] holds as many values as [S, 3]: the CLI used to rebuild [S, 3] from the count and run.
        string inputs = Path.Combine(_dir, "inputs.safetensors"), output = Path.Combine(_dir, "out.safetensors");
        RewriteInputs(inputs, "img_ids", (shape, values) => (new[] { shape[1], shape[0] }, Transpose(values, shape[0], shape[1])));

        (int exitCode, _, string errors) = CliProcess.Run("flux", "forward", "--model", FluxTiny, "--inputs", inputs, "--output", output);

        AssertRefused(exitCode, errors, output, "img_ids has shape [3, ", "expected [");
    }

    [Test]
    public void FluxForward_PooledProjectionsOfTheWrongWidth_Exits2NamingIt()
    {
        string inputs = Path.Combine(_dir, "inputs.safetensors"), output = Path.Combine(_dir, "out.safetensors");
        RewriteInputs(inputs, "pooled_projections", (shape, values) => (new[] { shape[0] * 2, shape[1] / 2 }, values));

        (int exitCode, _, string errors) = CliProcess.Run("flux", "forward", "--model", FluxTiny, "--inputs", inputs, "--output", output);

        // flux-tiny: B = 2, pooled_projection_dim = 24; the same 48 values stored as [4, 12].
        AssertRefused(exitCode, errors, output, "pooled_projections has shape [4, 12], expected [2, 24]");
    }

    [Test]
    public void FluxForward_NaNInTxtIds_Exits2NamingIt()
    {
        string inputs = Path.Combine(_dir, "inputs.safetensors"), output = Path.Combine(_dir, "out.safetensors");
        RewriteInputs(inputs, "txt_ids", (shape, values) =>
        {
            values[4] = float.NaN;
            return (shape, values);
        });

        (int exitCode, _, string errors) = CliProcess.Run("flux", "forward", "--model", FluxTiny, "--inputs", inputs, "--output", output);

        AssertRefused(exitCode, errors, output, "txt_ids holds a non-finite value (NaN) at flat index 4");
    }

    [Test]
    public void FluxForward_ConfigWithFewerLayersThanTheFile_Exits2NamingTheUnusedTensors()
    {
        string model = Path.Combine(_dir, "model"), output = Path.Combine(_dir, "out.safetensors");
        Directory.CreateDirectory(model);
        File.Copy(Path.Combine(FluxTiny, "diffusion_pytorch_model.safetensors"), Path.Combine(model, "diffusion_pytorch_model.safetensors"));
        string config = File.ReadAllText(Path.Combine(FluxTiny, "config.json"));
        Assert.That(config, Does.Contain("\"num_layers\": 2"));
        File.WriteAllText(Path.Combine(model, "config.json"), config.Replace("\"num_layers\": 2", "\"num_layers\": 1"));

        (int exitCode, _, string errors) = CliProcess.Run(
            "flux", "forward", "--model", model, "--inputs", Path.Combine(FluxTiny, "inputs.safetensors"), "--output", output);

        AssertRefused(exitCode, errors, output, "the config does not use", "'transformer_blocks.1.");
    }

    [Test]
    public void FluxForward_StoredShapes_StillMatchDiffusers()
    {
        // The shapes now come from the file: the well-formed inputs must still give diffusers' output.
        string output = Path.Combine(_dir, "out.safetensors");

        (int exitCode, _, string errors) = CliProcess.Run(
            "flux", "forward", "--model", FluxTiny, "--inputs", Path.Combine(FluxTiny, "inputs.safetensors"), "--output", output);

        Assert.That(exitCode, Is.Zero, errors);
        using SafeTensorsFile got = SafeTensorsFile.Open(output);
        using SafeTensorsFile expected = SafeTensorsFile.Open(Path.Combine(FluxTiny, "expected.safetensors"));
        float[] y = got.ReadFloats("output"), reference = expected.ReadFloats(expected.Tensors[0].Name);
        Assert.That(got.GetTensor("output").Shape, Is.EqualTo(expected.Tensors[0].Shape));
        double scale = reference.Max(v => Math.Abs((double)v));
        double error = y.Zip(reference, (a, b) => Math.Abs((double)a - b)).Max() / scale;
        Assert.That(error, Is.LessThan(1e-4), "float forward against diffusers (FluxTransformerTests bounds it the same)");
    }

    private static void AssertRefused(int exitCode, string errors, string output, params string[] needles)
    {
        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(2), errors);
            Assert.That(errors.Trim(), Does.Not.Contain("\n"), "one line");
            foreach (string needle in needles)
            {
                Assert.That(errors, Does.Contain(needle));
            }

            Assert.That(File.Exists(output), Is.False, "no output file");
        });
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
