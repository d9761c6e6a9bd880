using System;
using System.IO;
using System.Linq;
using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Generation;
using SvdQuant.Models;
using SvdQuant.Native;

namespace SvdQuant.Tests;

/// <summary>
/// <see cref="AutoencoderKL"/> on a tiny VAE folder: every managed call equals the C API called directly
/// here (options, shapes and packing marshalled right), the info, the 8-bit picture against
/// round-half-even computed here, the RGBA-to-[-1, 1] conversion, and bad input named.
/// </summary>
public sealed class AutoencoderKLTests
{
    private string _dir = null!;

    [SetUp]
    public void CreateFolder() => _dir = Directory.CreateTempSubdirectory("svdq-vae-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void Info_ReportsTheConfig()
    {
        using var engine = new Engine();
        using AutoencoderKL vae = AutoencoderKL.Load(engine, TinyVae.Write(_dir));
        long parameters = SyntheticVae.Tensors(TinyVae.Config).Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));

        AutoencoderKLInfo info = vae.Info;
        Assert.That(
            (info.InChannels, info.OutChannels, info.LatentChannels, info.Downscale, info.SampleSize),
            Is.EqualTo((3, 3, 4, 2, 32)));
        Assert.That((info.ScalingFactor, info.ShiftFactor), Is.EqualTo((0.3611, 0.1159)));
        Assert.That((info.ParameterCount, info.WeightBytes), Is.EqualTo((parameters, 4 * parameters)));
    }

    [Test]
    public unsafe void DecodeAndEncode_EqualTheCApi()
    {
        string folder = TinyVae.Write(_dir);
        using var engine = new Engine();
        using AutoencoderKL vae = AutoencoderKL.Load(engine, folder);
        float[] latents = TinyVae.Uniform(2 * 4 * 6 * 8, 1).Select(v => 2 * v).ToArray();
        float[] image = TinyVae.Uniform(2 * 3 * 12 * 16, 2);
        var tiled = new AutoencoderKLOptions { Tiling = VaeTiling.Always, TileSize = 8 };

        float[] decoded = vae.Decode(engine, latents, [2, 4, 6, 8], tiled);
        (float[] mean, float[] logVar) = vae.Encode(engine, image, [2, 3, 12, 16]);

        using SvdqVaeHandle native = LoadNative(engine, folder);
        var expectedImage = new float[2 * 3 * 12 * 16];
        var expectedMean = new float[2 * 4 * 6 * 8];
        var expectedLogVar = new float[expectedMean.Length];
        svdq_vae_options options = Options(svdq_vae_tiling.SVDQ_VAE_TILING_ALWAYS, 8);
        fixed (float* z = latents, x = expectedImage, source = image, m = expectedMean, l = expectedLogVar)
        {
            using SvdqTensorHandle zt = NativeTensor.WrapF32(z, latents.Length, [2, 4, 6, 8]);
            using SvdqTensorHandle xt = NativeTensor.WrapF32(x, expectedImage.Length, [2, 3, 12, 16]);
            using SvdqTensorHandle st = NativeTensor.WrapF32(source, image.Length, [2, 3, 12, 16]);
            using SvdqTensorHandle mt = NativeTensor.WrapF32(m, expectedMean.Length, [2, 4, 6, 8]);
            using SvdqTensorHandle lt = NativeTensor.WrapF32(l, expectedLogVar.Length, [2, 4, 6, 8]);
            using EngineCall call = engine.Enter();
            NativeStatus.Check(NativeMethods.svdq_vae_decode(call.Context, native, &options, zt, xt));
            NativeStatus.Check(NativeMethods.svdq_vae_encode(call.Context, native, null, st, mt, lt));
        }

        Assert.That(decoded, Is.EqualTo(expectedImage), "decode, 8-pixel tiles");
        Assert.That(vae.Decode(engine, latents, [2, 4, 6, 8]), Is.Not.EqualTo(expectedImage), "one pass differs from tiles: the options matter");
        Assert.That(mean, Is.EqualTo(expectedMean));
        Assert.That(logVar, Is.EqualTo(expectedLogVar));
        Assert.That(vae.DecodedShape([2, 4, 6, 8]), Is.EqualTo(new long[] { 2, 3, 12, 16 }));
        Assert.That(vae.EncodedShape([2, 3, 12, 16]), Is.EqualTo(new long[] { 2, 4, 6, 8 }));
    }

    [Test]
    public unsafe void TheFluxGlue_EqualsTheCApi()
    {
        string folder = TinyVae.Write(_dir);
        using var engine = new Engine();
        using AutoencoderKL vae = AutoencoderKL.Load(engine, folder);
        // A 4 x 6 latent image: 6 tokens of 16 features; the image 8 x 12 pixels.
        GenerationResult result = Result(TinyVae.Uniform(6 * 16, 3), channels: 4, latentHeight: 4, latentWidth: 6);
        float[] picture = TinyVae.Uniform(3 * 16 * 24, 4);

        float[] decoded = vae.DecodeLatents(engine, result);
        float[] sampled = vae.EncodeImage(engine, picture, width: 24, height: 16, sample: true, seed: 11);
        float[] mode = vae.EncodeImage(engine, picture, width: 24, height: 16);

        using SvdqVaeHandle native = LoadNative(engine, folder);
        var expectedImage = new float[3 * 8 * 12];
        var expectedSample = new float[24 * 16];
        fixed (float* packed = result.Latents, x = expectedImage, source = picture, s = expectedSample)
        {
            using SvdqTensorHandle pt = NativeTensor.WrapF32(packed, result.Latents.Length, [1, 6, 16]);
            using SvdqTensorHandle xt = NativeTensor.WrapF32(x, expectedImage.Length, [1, 3, 8, 12]);
            using SvdqTensorHandle st = NativeTensor.WrapF32(source, picture.Length, [1, 3, 16, 24]);
            using SvdqTensorHandle ot = NativeTensor.WrapF32(s, expectedSample.Length, [1, 24, 16]);
            using EngineCall call = engine.Enter();
            NativeStatus.Check(NativeMethods.svdq_flux_latents_decode(call.Context, native, null, pt, 4, 6, xt));
            NativeStatus.Check(NativeMethods.svdq_flux_image_encode(call.Context, native, null, st, 1, 11, ot));
        }

        Assert.That(decoded, Is.EqualTo(expectedImage), "DecodeLatents");
        Assert.That(sampled, Is.EqualTo(expectedSample), "EncodeImage, seeded sample");
        Assert.That(mode, Is.Not.EqualTo(sampled).And.Length.EqualTo(sampled.Length), "the mode is not the sample");
    }

    [Test]
    public void DecodeToImage_IsTheDecodedImageRoundedHalfToEven()
    {
        using var engine = new Engine();
        using AutoencoderKL vae = AutoencoderKL.Load(engine, TinyVae.Write(_dir));
        GenerationResult result = Result(TinyVae.Uniform(6 * 16, 5).Select(v => 3 * v).ToArray(), channels: 4, latentHeight: 4, latentWidth: 6);

        float[] image = vae.DecodeLatents(engine, result);
        RgbaImage picture = vae.DecodeToImage(engine, result);

        Assert.That((picture.Width, picture.Height), Is.EqualTo((12, 8)));
        int pixels = 12 * 8, clamped = 0;
        for (int c = 0; c < 3; c++)
        {
            for (int p = 0; p < pixels; p++)
            {
                float x = image[c * pixels + p];
                float v = Math.Clamp(x / 2f + 0.5f, 0f, 1f) * 255f;
                clamped += v is 0f or 255f ? 1 : 0;
                Assert.That(picture.Rgba[p * 4 + c], Is.EqualTo((byte)Math.Round(v, MidpointRounding.ToEven)), $"channel {c} pixel {p}");
            }
        }

        Assert.That(Enumerable.Range(0, pixels).Select(p => picture.Rgba[p * 4 + 3]), Is.All.EqualTo((byte)255), "alpha");
        Assert.That(clamped, Is.LessThan(3 * pixels / 2), "most values are inside the range, so the rounding is tested");
    }

    [Test]
    public void EncodeImage_OfAPicture_IsTheEncodeOfTwoBytesOver255MinusOne()
    {
        using var engine = new Engine();
        using AutoencoderKL vae = AutoencoderKL.Load(engine, TinyVae.Write(_dir));
        var rgba = new byte[16 * 8 * 4];
        new Random(6).NextBytes(rgba);
        var picture = new RgbaImage(16, 8, rgba);
        var expected = new float[3 * 16 * 8];
        for (int c = 0; c < 3; c++)
        {
            for (int p = 0; p < 16 * 8; p++)
            {
                expected[c * 128 + p] = 2f * (rgba[p * 4 + c] / 255f) - 1f;
            }
        }

        Assert.That(picture.ToVaeImage(), Is.EqualTo(expected));
        Assert.That(vae.EncodeImage(engine, picture), Is.EqualTo(vae.EncodeImage(engine, expected, 16, 8)));
    }

    [Test]
    public void BadInput_IsNamed()
    {
        using var engine = new Engine();
        using AutoencoderKL vae = AutoencoderKL.Load(engine, TinyVae.Write(_dir));
        Assert.Multiple(() =>
        {
            Assert.That(() => vae.Decode(engine, new float[3 * 16], [1, 3, 4, 4]), Throws.TypeOf<SvdQuantException>()
                .With.Message.Contains("latents have 3 channels").And.Property(nameof(SvdQuantException.Status)).EqualTo(StatusCode.ShapeMismatch));
            Assert.That(() => vae.Decode(engine, new float[10], [1, 4, 4, 4]), Throws.TypeOf<SvdQuantException>().With.Message.Contains("10 values"));
            Assert.That(() => vae.Encode(engine, new float[3 * 13 * 16], [1, 3, 13, 16]), Throws.TypeOf<SvdQuantException>().With.Message.Contains("multiples of 2"));
            Assert.That(() => vae.DecodeLatents(engine, Result(new float[6 * 64], 16, 4, 6)), Throws.TypeOf<SvdQuantException>()
                .With.Message.Contains("4 latent channels"));
            Assert.That(() => vae.EncodeImage(engine, new float[3 * 8 * 14], width: 14, height: 8), Throws.TypeOf<SvdQuantException>()
                .With.Message.Contains("multiples of 4"));
            Assert.That(() => vae.Decode(engine, new float[64], [1, 4, 4, 4], new AutoencoderKLOptions { Tiling = VaeTiling.Always, TileSize = 12 }),
                Throws.TypeOf<SvdQuantException>().With.Message.Contains("tile_sample_size 12"));
            Assert.That(() => AutoencoderKL.Load(engine, Directory.CreateDirectory(Path.Combine(_dir, "flux-without-vae")).FullName), Throws.TypeOf<SvdQuantException>().With.Message.Contains("no vae/ folder"));
        });
    }

    private static GenerationResult Result(float[] latents, int channels, int latentHeight, int latentWidth) =>
        new(latents, channels, latentHeight, latentWidth, steps: 1, evaluations: 1, cachedEvaluations: 0, guidanceIgnored: false, seconds: 0);

    private static unsafe SvdqVaeHandle LoadNative(Engine engine, string folder)
    {
        SvdqVaeHandle vae;
        fixed (byte* path = NativeText.ToUtf8(folder))
        {
            using EngineCall call = engine.Enter();
            NativeStatus.Check(NativeMethods.svdq_vae_load(call.Context, path, out vae));
        }

        return vae;
    }

    private static unsafe svdq_vae_options Options(svdq_vae_tiling tiling, int tile)
    {
        svdq_vae_options options;
        NativeStatus.Check(NativeMethods.svdq_vae_options_init(&options));
        options.tiling = (int)tiling;
        options.tile_sample_size = tile;
        return options;
    }
}
