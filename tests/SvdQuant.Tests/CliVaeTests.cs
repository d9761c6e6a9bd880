using System.IO;
using System.Linq;
using NUnit.Framework;
using SvdQuant.Formats;
using SvdQuant.Models;

namespace SvdQuant.Tests;

/// <summary>
/// `svdquant vae decode` and `vae encode` on a tiny VAE in a child process: output keys, shapes and values
/// equal the managed API's (from a VAE folder and from a pipeline folder with vae/, with the tiling
/// options passed on), and each bad input one line, exit code 2, no output file.
/// </summary>
public sealed class CliVaeTests : CliFixture
{
    [Test]
    public void Decode_WritesTheImageOfTheManagedApi()
    {
        string vaeFolder = TinyVae.Write(TempPath("")), latents = TempPath("l.safetensors"), output = TempPath("image.safetensors");
        float[] z = TinyVae.Uniform(2 * 4 * 6 * 8, 1);
        WriteTensor(latents, "latents", [2, 4, 6, 8], z);

        CliResult result = Run("vae", "decode", "--model", TempPath(""), "--latents", latents, "--output", output, "--tiling", "always", "--tile-size", "8");

        AssertSucceeded(result);
        using var engine = new Engine();
        using AutoencoderKL vae = AutoencoderKL.Load(engine, vaeFolder);
        float[] expected = vae.Decode(engine, z, [2, 4, 6, 8], new AutoencoderKLOptions { Tiling = VaeTiling.Always, TileSize = 8 });
        Assert.That(expected, Is.Not.EqualTo(vae.Decode(engine, z, [2, 4, 6, 8])), "the tiles change the image: the options are tested");
        using SafeTensorsFile file = SafeTensorsFile.Open(output);
        Assert.That(file.Tensors.Select(t => (t.Name, t.DType, t.Shape.ToArray())), Is.EqualTo(new[] { ("image", TensorDType.F32, new long[] { 2, 3, 12, 16 }) }));
        Assert.That(file.ReadFloats("image"), Is.EqualTo(expected));
        Assert.That(result.Output, Does.Contain("[2, 4, 6, 8]").And.Contain("[2, 3, 12, 16]").And.Contain(output));
    }

    [Test]
    public void Encode_WritesTheMeanAndLogvarOfTheManagedApi()
    {
        string vaeFolder = TinyVae.Write(TempPath("")), image = TempPath("i.safetensors"), output = TempPath("m.safetensors");
        float[] x = TinyVae.Uniform(1 * 3 * 12 * 16, 2);
        WriteTensor(image, "image", [1, 3, 12, 16], x);

        CliResult result = Run("vae", "encode", "--model", vaeFolder, "--image", image, "--output", output);

        AssertSucceeded(result);
        using var engine = new Engine();
        using AutoencoderKL vae = AutoencoderKL.Load(engine, vaeFolder);
        (float[] mean, float[] logVar) = vae.Encode(engine, x, [1, 3, 12, 16]);
        using SafeTensorsFile file = SafeTensorsFile.Open(output);
        Assert.That(file.Tensors.Select(t => (t.Name, t.DType, t.Shape.ToArray())), Is.EquivalentTo(new[]
        {
            ("mean", TensorDType.F32, new long[] { 1, 4, 6, 8 }), ("logvar", TensorDType.F32, new long[] { 1, 4, 6, 8 }),
        }));
        Assert.That(file.ReadFloats("mean"), Is.EqualTo(mean));
        Assert.That(file.ReadFloats("logvar"), Is.EqualTo(logVar));
        Assert.That(mean, Is.Not.EqualTo(logVar));
    }

    [Test]
    public void BadInput_IsOneLine_Exit2_NoFile()
    {
        string vaeFolder = TinyVae.Write(TempPath("")), output = TempPath("out.safetensors");
        string threeChannels = TempPath("c3.safetensors"), oddImage = TempPath("odd.safetensors"), noKey = TempPath("nokey.safetensors");
        string integers = TempPath("int.safetensors"), rank3 = TempPath("r3.safetensors"), noVae = TempPath("flux-without-vae");
        WriteTensor(threeChannels, "latents", [1, 3, 4, 4], new float[48]);
        WriteTensor(oddImage, "image", [1, 3, 13, 16], new float[3 * 13 * 16]);
        WriteTensor(noKey, "other", [1, 4, 4, 4], new float[64]);
        WriteTensor(rank3, "latents", [4, 4, 4], new float[64]);
        using (var writer = new SafeTensorsWriter())
        {
            writer.AddTensor("latents", TensorDType.I32, [1, 4, 2, 2], new byte[16 * 4]);
            writer.Save(integers);
        }

        Directory.CreateDirectory(noVae);
        string[] Decode(string model, string latents, params string[] extra) => ["vae", "decode", "--model", model, "--latents", latents, "--output", output, .. extra];

        Assert.Multiple(() =>
        {
            AssertRejected(Run(Decode(vaeFolder, threeChannels)), "latents have 3 channels", "4");
            AssertRejected(Run("vae", "encode", "--model", vaeFolder, "--image", oddImage, "--output", output), "multiples of 2");
            AssertRejected(Run(Decode(vaeFolder, noKey)), noKey, "missing tensor 'latents'");
            AssertRejected(Run(Decode(vaeFolder, integers)), "latents is I32", "F32");
            AssertRejected(Run(Decode(vaeFolder, rank3)), "latents is [4, 4, 4]");
            AssertRejected(Run(Decode(noVae, threeChannels)), noVae, "no vae/ folder");
            AssertRejected(Run(Decode(vaeFolder, threeChannels, "--tiling", "sometimes")), "--tiling 'sometimes'");
            AssertRejected(Run("vae", "decode", "--model", vaeFolder, "--output", output), "--latents");
            Assert.That(File.Exists(output), Is.False);
        });
    }

    private static void WriteTensor(string path, string name, long[] shape, float[] values)
    {
        using var writer = new SafeTensorsWriter();
        writer.AddTensor(name, shape, values);
        writer.Save(path);
    }
}
