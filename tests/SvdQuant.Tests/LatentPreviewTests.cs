using System;
using System.IO;
using System.Linq;
using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Formats;
using SvdQuant.Generation;
using SvdQuant.Models;

namespace SvdQuant.Tests;

/// <summary>
/// The latent preview against ComfyUI's published FLUX latent-to-RGB factors (computed here in
/// float64), its PNG decoded independently (<see cref="PngReader"/>), a failed save leaving
/// nothing, and embeddings files read by <see cref="TextConditioning.Load"/>.
/// </summary>
public sealed class LatentPreviewTests
{
    // ComfyUI's class Flux (comfy/latent_formats.py): latent_rgb_factors [16][3] and latent_rgb_factors_bias.
    private static readonly double[,] Factors =
    {
        { -0.0346, 0.0244, 0.0681 }, { 0.0034, 0.0210, 0.0687 }, { 0.0275, -0.0668, -0.0433 }, { -0.0174, 0.0160, 0.0617 },
        { 0.0859, 0.0721, 0.0329 }, { 0.0004, 0.0383, 0.0115 }, { 0.0405, 0.0861, 0.0915 }, { -0.0236, -0.0185, -0.0259 },
        { -0.0245, 0.0250, 0.1180 }, { 0.1008, 0.0755, -0.0421 }, { -0.0515, 0.0201, 0.0011 }, { 0.0428, -0.0012, -0.0036 },
        { 0.0817, 0.0765, 0.0749 }, { -0.1264, -0.0522, -0.1103 }, { -0.0280, -0.0881, -0.0499 }, { -0.1262, -0.0982, -0.0778 },
    };

    private static readonly double[] Bias = [-0.0329, -0.0718, -0.0851];

    private string _dir = null!;

    [SetUp]
    public void CreateFolder() => _dir = Directory.CreateTempSubdirectory("svdq-preview-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void SixteenChannels_AreComfyUisProjection_AndUpscaleRepeatsPixels()
    {
        // 4 x 6 latents (6 tokens of 64 features) of amplitude 4: both linear and clamped values occur (counted).
        const int Channels = 16, H = 4, W = 6, Upscale = 3;
        float[] latents = Values(Channels * H * W, 4.0, seed: 5);
        RgbaImage preview = Result(latents, Channels, H, W).Preview(Upscale);

        Assert.That((preview.Width, preview.Height, preview.Rgba.Length), Is.EqualTo((W * Upscale, H * Upscale, W * Upscale * H * Upscale * 4)));
        int linear = 0, clamped = 0;
        for (int y = 0; y < preview.Height; y++)
        {
            for (int x = 0; x < preview.Width; x++)
            {
                for (int k = 0; k < 3; k++)
                {
                    double v = Bias[k];
                    for (int c = 0; c < Channels; c++)
                    {
                        v += latents[PackedIndex(Channels, W, c, y / Upscale, x / Upscale)] * Factors[c, k];
                    }

                    _ = Math.Abs(v) < 1 ? linear++ : clamped++;
                    Assert.That(preview.Rgba[(y * preview.Width + x) * 4 + k], Is.EqualTo(ToByte(v)), $"channel {k} at ({y}, {x})");
                }

                Assert.That(preview.Rgba[(y * preview.Width + x) * 4 + 3], Is.EqualTo(255));
            }
        }

        Assert.That(linear, Is.GreaterThan(clamped));
        Assert.That(clamped, Is.GreaterThan(0));
    }

    [Test]
    public void TheTinyModelsPreview_HasTheImagesSize_AndStretchesItsFourChannels()
    {
        using var engine = new Engine();
        using FluxTransformer model = FluxTransformer.Load(engine, FluxTinyGeneration.Model);
        using FluxGenerator generator = FluxGenerator.Create(model, new GenerationOptions { Width = 64, Height = 48, Steps = 2 });
        RgbaImage preview = generator.Generate(engine, new GenerationInputs(FluxTinyGeneration.Prompt())).Preview(8);

        Assert.That((preview.Width, preview.Height), Is.EqualTo((64, 48)));
        for (int k = 0; k < 3; k++)
        {
            byte[] plane = preview.Rgba.Where((_, i) => i % 4 == k).ToArray();
            Assert.That((plane.Min(), plane.Max()), Is.EqualTo(((byte)0, (byte)255)), $"channel {k} stretched to its own range");
        }

        Assert.That(() => Result(new float[64], 16, 2, 2).Preview(9), Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("upscale"));
        Assert.That(() => Result(new float[64], 16, 2, 2).Preview(0), Throws.TypeOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void SavePng_WritesAPngOfThePreview()
    {
        RgbaImage preview = Result(Values(16 * 4 * 6, 2.0, seed: 9), 16, 4, 6).Preview(2);
        string path = Path.Combine(_dir, "preview.png");
        File.WriteAllText(path, "an older file is replaced");

        preview.SavePng(path);

        (int width, int height, byte[] rgba) = PngReader.Read(path);
        Assert.That((width, height), Is.EqualTo((12, 8)));
        Assert.That(rgba, Is.EqualTo(preview.Rgba));
        Assert.That(Directory.GetFiles(_dir).Select(Path.GetFileName), Is.EqualTo(new[] { "preview.png" }), "no temporary left");
    }

    [Test]
    public void SavePng_ThatFails_LeavesNothing()
    {
        RgbaImage preview = Result(new float[64], 16, 2, 2).Preview();
        string folder = Path.Combine(_dir, "taken.png"), link = Path.Combine(_dir, "link.png"), target = Path.Combine(_dir, "target.png");
        Directory.CreateDirectory(folder);
        File.WriteAllText(target, "keep");
        File.CreateSymbolicLink(link, target);

        Assert.Multiple(() =>
        {
            Assert.That(() => preview.SavePng(folder), Throws.TypeOf<SvdQuantException>().With.Message.Contains("taken.png")
                .And.Property(nameof(SvdQuantException.Status)).EqualTo(StatusCode.Io));
            Assert.That(() => preview.SavePng(link), Throws.TypeOf<SvdQuantException>().With.Message.Contains("link.png"));
            Assert.That(() => preview.SavePng(Path.Combine(_dir, "missing", "p.png")), Throws.TypeOf<SvdQuantException>().With.Message.Contains("p.png"));
            Assert.That(File.ReadAllText(target), Is.EqualTo("keep"));
            Assert.That(Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName), Is.EquivalentTo(new[] { "taken.png", "link.png", "target.png" }));
            Assert.That(Directory.GetFileSystemEntries(folder), Is.Empty);
        });
    }

    [TestCase(TensorDType.F32)]
    [TestCase(TensorDType.F16)]
    [TestCase(TensorDType.BF16)]
    public void TextConditioningLoad_ReadsBothKeys(TensorDType dtype)
    {
        // Values exact in all three types (multiples of 1/8 up to 4), so each must come back equal.
        float[] states = Enumerable.Range(0, 3 * 8).Select(i => (i - 12) / 8f).ToArray(), pooled = [0.5f, -1f, 4f, 0.125f];
        string path = Path.Combine(_dir, "e.safetensors");
        using (var writer = new SafeTensorsWriter())
        {
            writer.AddTensor("encoder_hidden_states", dtype, [1, 3, 8], Encode(states, dtype));
            writer.AddTensor("pooled_projections", dtype, [1, 4], Encode(pooled, dtype));
            writer.Save(path);
        }

        TextConditioning loaded = TextConditioning.Load(path);

        Assert.That((loaded.TextTokens, loaded.TextWidth), Is.EqualTo((3, 8)));
        Assert.That(loaded.EncoderHiddenStates, Is.EqualTo(states));
        Assert.That(loaded.PooledProjections, Is.EqualTo(pooled));
    }

    [Test]
    public void TextConditioningLoad_NamesAMissingKeyOrAWrongRank()
    {
        string missing = Path.Combine(_dir, "missing.safetensors"), flat = Path.Combine(_dir, "flat.safetensors");
        using (var writer = new SafeTensorsWriter())
        {
            writer.AddTensor("encoder_hidden_states", [1, 3, 8], new float[24]);
            writer.Save(missing);
            writer.AddTensor("pooled_projections", [1, 1, 4], new float[4]);  // batch 1, but one dimension too many
            writer.Save(flat);
        }

        Assert.Multiple(() =>
        {
            Assert.That(() => TextConditioning.Load(missing), Throws.TypeOf<SvdQuantException>()
                .With.Message.Contains("missing tensor 'pooled_projections'").And.Message.Contains("missing.safetensors"));
            Assert.That(() => TextConditioning.Load(flat), Throws.TypeOf<SvdQuantException>()
                .With.Message.Contains("pooled_projections is [1, 1, 4], it must be [1, P]"));
        });
    }

    private static GenerationResult Result(float[] latents, int channels, int height, int width) =>
        new(latents, channels, height, width, steps: 1, evaluations: 1, cachedEvaluations: 0, guidanceIgnored: false, seconds: 0);

    // Index of latent[ch, y, x] in the packed tokens [S_img, 4C] (diffusers' _pack_latents).
    private static int PackedIndex(int channels, int width, int ch, int y, int x) =>
        ((y / 2) * (width / 2) + x / 2) * 4 * channels + ch * 4 + (y % 2) * 2 + x % 2;

    // ComfyUI's preview_to_image: clamp to [-1, 1], (v + 1) * 127.5, round half to even.
    private static byte ToByte(double v) => (byte)Math.Round((Math.Clamp(v, -1, 1) + 1) * 127.5, MidpointRounding.ToEven);

    private static byte[] Encode(float[] values, TensorDType dtype) => dtype switch
    {
        TensorDType.F32 => values.SelectMany(BitConverter.GetBytes).ToArray(),
        TensorDType.F16 => values.SelectMany(v => BitConverter.GetBytes((Half)v)).ToArray(),
        _ => values.SelectMany(v => BitConverter.GetBytes((ushort)(BitConverter.SingleToInt32Bits(v) >> 16))).ToArray(),
    };

    // Deterministic uniform values in [-amplitude, amplitude] (the preview only needs spread).
    private static float[] Values(int count, double amplitude, int seed)
    {
        var random = new GaussianRandom(seed);
        return Enumerable.Range(0, count).Select(_ => (float)random.NextUniform(-amplitude, amplitude)).ToArray();
    }
}
