using System;
using System.IO;
using System.Linq;
using System.Threading;
using NUnit.Framework;
using SvdQuant.Formats;
using SvdQuant.Generation;
using SvdQuant.Models;

namespace SvdQuant.Tests;

/// <summary>
/// The prompt-to-image pipeline on the tiny synthetic FLUX folder that `svdquant demo
/// --write-pipeline` writes (every component in its published layout, random weights): a run is
/// exactly its stages composed by hand, deterministic for a seed, takes schnell's defaults from the
/// folder, image-to-image at strength 0 returns the encoded-decoded input, the inpainting mask keeps
/// and repaints as FluxInpaintPipeline's, cancellation leaves a pipeline that runs again, and bad
/// input is named. The CLI's forms (`--prompt`, `--token-ids`, `--embeddings`) agree bit for bit.
/// </summary>
public sealed class FluxPipelineTests : CliFixture
{
    private const int Side = 64;

    private static string _folder = null!;
    private Engine _engine = null!;

    [OneTimeSetUp]
    public static void WritePipeline()
    {
        _folder = Path.Combine(Path.GetTempPath(), "svdq-pipeline-" + Guid.NewGuid().ToString("N"));
        AssertSucceeded(Run("demo", "--write-pipeline", _folder));
    }

    [OneTimeTearDown]
    public static void DeletePipeline() => Directory.Delete(_folder, recursive: true);

    [SetUp]
    public void CreateEngine() => _engine = new Engine();

    [TearDown]
    public void DisposeEngine() => _engine.Dispose();

    private static GenerationOptions Small(FluxPipeline pipeline, ulong seed = 3)
    {
        GenerationOptions options = pipeline.DefaultOptions();
        options.Width = Side;
        options.Height = Side;
        options.Seed = seed;
        return options;
    }

    [Test]
    public void ARun_IsItsStagesComposedByHand_WithTheFoldersSchnellDefaults()
    {
        using FluxPipeline pipeline = FluxPipeline.Load(_engine, _folder);
        FluxPipelineResult result = pipeline.Generate("a cat", Small(pipeline));

        using TextEncoders encoders = TextEncoders.Load(_engine, _folder, new TextEncoderOptions { T5MaxLength = 256 });
        TextConditioning prompt = encoders.Encode("a cat");
        using FluxTransformer transformer = FluxTransformer.Load(_engine, Path.Combine(_folder, "transformer"));
        using FluxGenerator generator = FluxGenerator.Create(transformer, new GenerationOptions { Width = Side, Height = Side, Steps = 4, Seed = 3 });
        GenerationResult latents = generator.Generate(_engine, new GenerationInputs(prompt));
        using AutoencoderKL vae = AutoencoderKL.Load(_engine, Path.Combine(_folder, "vae"));
        float[] decoded = vae.DecodeLatents(_engine, latents);
        RgbaImage image = vae.DecodeToImage(_engine, latents);

        Assert.Multiple(() =>
        {
            Assert.That(prompt.TextTokens, Is.EqualTo(256), "schnell-style (no guidance embedding): T5 length 256");
            Assert.That(result.Latents.Steps, Is.EqualTo(4), "schnell-style: 4 steps");
            Assert.That(result.Latents.Latents, Is.EqualTo(latents.Latents), "the sampler's run, with the folder's unshifted schedule");
            Assert.That(result.Decoded, Is.EqualTo(decoded), "the VAE's output");
            Assert.That((result.Image.Width, result.Image.Height), Is.EqualTo((Side, Side)));
            Assert.That(result.Image.Rgba, Is.EqualTo(image.Rgba));
        });
    }

    [Test]
    public void ASeed_GivesTheSamePicture_AndAnotherSeedAnother()
    {
        using FluxPipeline pipeline = FluxPipeline.Load(_engine, _folder);
        byte[] first = pipeline.Generate("a cat", Small(pipeline)).Image.Rgba;

        Assert.That(pipeline.Generate("a cat", Small(pipeline)).Image.Rgba, Is.EqualTo(first), "components reused, same picture");
        Assert.That(pipeline.Generate("a cat", Small(pipeline, seed: 4)).Image.Rgba, Is.Not.EqualTo(first));
        Assert.That(pipeline.Generate("a dog", Small(pipeline)).Image.Rgba, Is.Not.EqualTo(first), "the prompt conditions the picture");
    }

    [Test]
    public void AT5LengthAbove512_IsRefusedAtLoad()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => FluxPipeline.Load(_engine, _folder, new FluxPipelineOptions { T5MaxLength = 513 }))!;
        Assert.That(e.Message, Does.Contain("T5MaxLength must be in [1, 512]"));
    }

    [Test]
    public void ATruncatedPrompt_IsNamedInTheWarnings_AndByTheCli()
    {
        using FluxPipeline pipeline = FluxPipeline.Load(_engine, _folder, new FluxPipelineOptions { T5MaxLength = 3 });
        FluxPipelineResult result = pipeline.Generate(
            new FluxPipelineInputs(FluxPrompt.FromText("a cat cat")) { NegativePrompt = FluxPrompt.FromText("a dog dog dog") }, Small(pipeline));
        // What the folder's tokenizer cuts at 3 (its count is tested in T5TokenizerTests): the pipeline passes it on, per prompt.
        int Cut(string text) => Tokenization.T5Tokenizer.Load(Path.Combine(_folder, "tokenizer_2"), 3).Encode(text).TruncatedTokens;
        Assert.That(result.Warnings, Has.Count.EqualTo(2));
        Assert.That(result.Warnings[0], Does.StartWith("prompt: T5:").And.Contain($" {Cut("a cat cat")} token(s)"));
        Assert.That(result.Warnings[1], Does.StartWith("negative prompt: T5:").And.Contain($" {Cut("a dog dog dog")} token(s)"));
        Assert.That(pipeline.Generate("a", Small(pipeline)).Warnings, Is.Empty, "a prompt that fits warns of nothing");

        // The CLI's T5 length is the folder's (256 for schnell): a prompt past it is cut, and says so.
        string png = TempPath("long.png");
        CliResult cli = Run(["generate", "--model", _folder, "--prompt", string.Join(' ', Enumerable.Repeat("cat", 300)), "--output", png,
            "--width", "64", "--height", "64"]);
        AssertSucceeded(cli);
        Assert.That(cli.Errors, Does.Contain("svdquant: warning: prompt: T5:"));
        Assert.That(File.Exists(png));
    }

    [Test]
    public void StrengthZero_ReturnsTheEncodedDecodedInput()
    {
        using FluxPipeline pipeline = FluxPipeline.Load(_engine, _folder);
        RgbaImage input = Gradient(Side, Side);
        GenerationOptions options = Small(pipeline);
        options.Strength = 0;

        FluxPipelineResult result = pipeline.Generate(new FluxPipelineInputs("a cat") { InitImage = input }, options);

        using AutoencoderKL vae = AutoencoderKL.Load(_engine, Path.Combine(_folder, "vae"));
        float[] encoded = vae.EncodeImage(_engine, input, sample: true, seed: options.Seed);
        Assert.That(result.Latents.Steps, Is.Zero);
        Assert.That(result.Latents.Latents, Is.EqualTo(encoded), "the init latents: the input's seeded posterior sample, scaled");
        Assert.That(result.Image.Rgba, Is.EqualTo(vae.DecodeToImage(_engine, result.Latents).Rgba));
    }

    [Test]
    public void TheMask_KeepsWhereDark_AndRepaintsWhereLight()
    {
        using FluxPipeline pipeline = FluxPipeline.Load(_engine, _folder);
        RgbaImage input = Gradient(Side, Side);
        GenerationOptions options = Small(pipeline);
        options.Strength = 1;
        float[] Latents(RgbaImage? mask) => pipeline.Generate(new FluxPipelineInputs("a cat") { InitImage = input, Mask = mask }, options).Latents.Latents;

        float[] repainted = Latents(null);
        float[] kept = Latents(Solid(Side, Side, 127));      // luma 127 / 255 < 0.5: kept
        float[] all = Latents(Solid(Side, Side, 128));       // luma 128 / 255 >= 0.5: repainted
        using AutoencoderKL vae = AutoencoderKL.Load(_engine, Path.Combine(_folder, "vae"));

        Assert.Multiple(() =>
        {
            Assert.That(kept, Is.EqualTo(vae.EncodeImage(_engine, input, sample: true, seed: options.Seed)), "a dark mask keeps the original after the last step");
            Assert.That(all, Is.EqualTo(repainted), "a light mask repaints everything: image-to-image");
        });

        // Left half light: the latent columns 0..3 of 8 are repainted, 4..7 kept (nearest, pixel 8 j).
        RgbaImage half = Solid(Side, Side, 0);
        for (int y = 0; y < Side; y++)
        {
            for (int x = 0; x < Side / 2; x++)
            {
                half.Rgba.AsSpan(((y * Side) + x) * 4, 3).Fill(255);
            }
        }

        float[] mixed = Latents(half);
        float[] original = vae.EncodeImage(_engine, input, sample: true, seed: options.Seed);
        const int Channels = 16, LatentSide = Side / 8;
        for (int token = 0; token < mixed.Length / (4 * Channels); token++)
        {
            int column = token % (LatentSide / 2);  // a 2 x 2 patch covers latent columns 2c, 2c + 1
            float[] patch = mixed.AsSpan(token * 4 * Channels, 4 * Channels).ToArray();
            float[] start = original.AsSpan(token * 4 * Channels, 4 * Channels).ToArray();
            float[] free = repainted.AsSpan(token * 4 * Channels, 4 * Channels).ToArray();
            Assert.That(patch, column < LatentSide / 4 ? Is.Not.EqualTo(start) : Is.EqualTo(start), $"token {token}");
            if (column >= LatentSide / 4)
            {
                Assert.That(patch, Is.Not.EqualTo(free), $"token {token} is not the unmasked run's");
            }
        }
    }

    [Test]
    public void Cancelling_ThrowsAndThePipelineRunsAgain()
    {
        using FluxPipeline pipeline = FluxPipeline.Load(_engine, _folder);
        byte[] expected = pipeline.Generate("a cat", Small(pipeline)).Image.Rgba;
        using var cancel = new CancellationTokenSource();
        var progress = new Reporter(_ => cancel.Cancel());

        Assert.Throws<OperationCanceledException>(() => pipeline.Generate(new FluxPipelineInputs("a cat"), Small(pipeline), progress, cancel.Token));
        Assert.That(pipeline.Generate("a cat", Small(pipeline)).Image.Rgba, Is.EqualTo(expected));
    }

    [Test]
    public void BadInput_IsNamed()
    {
        using FluxPipeline pipeline = FluxPipeline.Load(_engine, _folder);
        GenerationOptions options = Small(pipeline);
        SvdQuantException Refused(FluxPipelineInputs inputs) => Assert.Throws<SvdQuantException>(() => pipeline.Generate(inputs, options))!;

        Assert.Multiple(() =>
        {
            Assert.That(Refused(new FluxPipelineInputs("a") { InitImage = Gradient(60, 64) }).Message, Does.Contain("60 x 64").And.Contain("16"));
            Assert.That(Refused(new FluxPipelineInputs("a") { InitImage = Gradient(64, 64), Mask = Solid(32, 64, 0) }).Message, Does.Contain("32 x 64"));
            Assert.That(Refused(new FluxPipelineInputs("a") { Mask = Solid(64, 64, 0) }).Message, Does.Contain("init image"));
            Assert.That(
                () => new FluxPipelineInputs("a") { InitImage = Gradient(64, 64), Mask = Solid(64, 32, 0) }.Validate(),
                Throws.TypeOf<SvdQuantException>().With.Message.Contains("64 x 32"), "checked without a pipeline");
            Assert.That(Assert.Throws<SvdQuantException>(() => FluxPipeline.Load(_engine, Path.Combine(_folder, "vae")))!.Message, Does.Contain("model_index.json"));
        });

        // A folder without vae/ loads (the transformer is there) and names vae/ when a run needs it.
        string copy = TempPath("no-vae");
        CopyFolder(_folder, copy, skip: "vae");
        using FluxPipeline noVae = FluxPipeline.Load(_engine, copy);
        var missing = Assert.Throws<SvdQuantException>(() => noVae.Generate("a cat", Small(noVae)))!;
        Assert.That(missing.Status, Is.EqualTo(StatusCode.Io));
        Assert.That(missing.Message, Does.Contain("vae/"));
    }

    [Test]
    public void W4A16T5_IsCloseToFloat_ItsFileLoadsBitForBit_AndReplacesTheFoldersT5()
    {
        int[] ids = Tokenization.T5Tokenizer.Load(Path.Combine(_folder, "tokenizer_2"), 256).Encode("a red cat on a chair").Ids;
        using T5TextEncoder float32 = T5TextEncoder.Load(_engine, _folder);
        using T5TextEncoder w4a16 = T5TextEncoder.Load(_engine, _folder, LinearScheme.W4A16);
        float[] reference = float32.Encode(_engine, ids), quantized = w4a16.Encode(_engine, ids);
        double error = Math.Sqrt(reference.Zip(quantized, (a, b) => (double)(a - b) * (a - b)).Sum() / reference.Sum(a => (double)a * a));
        TestContext.Out.WriteLine($"W4A16 T5 vs float, relative Frobenius error {error:F4}");
        Assert.Multiple(() =>
        {
            Assert.That(w4a16.Info.Scheme, Is.EqualTo(LinearScheme.W4A16), "d_model 64 and d_ff 128 hold whole groups: every block linear is 4-bit");
            Assert.That(w4a16.Info.WeightBytes, Is.LessThan(float32.Info.WeightBytes));
            // Measured 0.657: round-to-nearest INT4 on random N(0, 1/64) weights in groups of 64 costs ~10% per
            // linear, compounded through 2 layers' gated MLP and softmax onto small random embeddings. The
            // engine's 4-bit math itself is pinned at 1e-6 by native test_t5_w4a16; this bound catches an
            // unquantized encoder (0) or a broken one (~1 and above).
            Assert.That(error, Is.GreaterThan(0.3).And.LessThan(0.72));
        });

        string file = TempPath("t5-w4a16.safetensors");
        w4a16.Save(file);
        using T5TextEncoder loaded = T5TextEncoder.Load(_engine, file);
        Assert.That(loaded.Info.Scheme, Is.EqualTo(LinearScheme.W4A16));
        Assert.That(loaded.Encode(_engine, ids), Is.EqualTo(quantized), "the file holds the encoder's own 4-bit values");

        using FluxPipeline atLoad = FluxPipeline.Load(_engine, _folder, new FluxPipelineOptions { T5Precision = LinearScheme.W4A16 });
        using FluxPipeline fromFile = FluxPipeline.Load(_engine, _folder, new FluxPipelineOptions { T5File = file });
        byte[] expected = atLoad.Generate("a red cat on a chair", Small(atLoad)).Image.Rgba;
        Assert.That(fromFile.Generate("a red cat on a chair", Small(fromFile)).Image.Rgba, Is.EqualTo(expected));
        string png = TempPath("t5.png");
        AssertSucceeded(Run("generate", "--model", _folder, "--t5", file, "--prompt", "a red cat on a chair", "--width", "64", "--height", "64", "--seed", "3", "--output", png));
        Assert.That(PngReader.Read(png).Rgba, Is.EqualTo(expected), "--t5 FILE");
    }

    /// <summary>
    /// generate --prompt with --lora: the managed pipeline's picture with that LoRA on its transformer, bit for bit,
    /// which is not the picture without it.
    /// </summary>
    [Test]
    public void Cli_Lora_IsTheManagedPipelinesPictureWithIt()
    {
        string lora = TempPath("lora.safetensors"), png = TempPath("lora.png");
        using FluxPipeline pipeline = FluxPipeline.Load(_engine, _folder);
        int inner = pipeline.Transformer.Info.Heads * pipeline.Transformer.Info.HeadDim;
        TestLoras.Write(lora, LoraKeyStyle.Diffusers,
        [
            TestLoras.Module("transformer.transformer_blocks.0.attn.to_q", 4, inner, inner, alpha: 4, seed: 80),
            TestLoras.Module("transformer.single_transformer_blocks.0.proj_mlp", 4, inner, 4 * inner, alpha: 4, seed: 81),
        ]);
        byte[] without = pipeline.Generate("a red cat", Small(pipeline, seed: 5)).Image.Rgba;
        pipeline.Transformer.Loras.Add(_engine, lora, 1.5f);
        byte[] expected = pipeline.Generate("a red cat", Small(pipeline, seed: 5)).Image.Rgba;

        AssertSucceeded(Run("generate", "--model", _folder, "--prompt", "a red cat", "--width", "64", "--height", "64", "--seed", "5",
            "--lora", lora + ":1.5", "--output", png));

        Assert.Multiple(() =>
        {
            Assert.That(PngReader.Read(png).Rgba, Is.EqualTo(expected));
            Assert.That(expected, Is.Not.EqualTo(without), "the LoRA changes the picture");
        });
    }

    [Test]
    public void Cli_PromptTokenIdsAndEmbeddings_GiveTheSamePicture()
    {
        string common = "--width 64 --height 64 --seed 5";
        string viaPrompt = TempPath("prompt.png"), image = TempPath("image.safetensors");
        AssertSucceeded(Run(["generate", "--model", _folder, "--prompt", "a red cat", "--output", viaPrompt, "--image-out", image, .. common.Split(' ')]));

        string ids = TempPath("ids.safetensors"), embeddings = TempPath("e.safetensors");
        WriteTokenIds(ids, "a red cat");
        AssertSucceeded(Run("encode", "--model", _folder, "--token-ids", ids, "--output", embeddings));
        string viaIds = TempPath("ids.png"), viaEmbeddings = TempPath("embeddings.png");
        AssertSucceeded(Run(["generate", "--model", _folder, "--token-ids", ids, "--output", viaIds, .. common.Split(' ')]));
        AssertSucceeded(Run(["generate", "--model", _folder, "--embeddings", embeddings, "--output", viaEmbeddings, .. common.Split(' ')]));

        using FluxPipeline pipeline = FluxPipeline.Load(_engine, _folder);
        GenerationOptions options = Small(pipeline, seed: 5);
        FluxPipelineResult managed = pipeline.Generate("a red cat", options);
        Assert.Multiple(() =>
        {
            Assert.That(PngReader.Read(viaPrompt).Rgba, Is.EqualTo(managed.Image.Rgba), "--prompt is the managed pipeline's picture");
            Assert.That(File.ReadAllBytes(viaIds), Is.EqualTo(File.ReadAllBytes(viaPrompt)), "--token-ids of the tokenizers' ids");
            Assert.That(File.ReadAllBytes(viaEmbeddings), Is.EqualTo(File.ReadAllBytes(viaPrompt)), "encode, then generate --embeddings");
        });
        using SafeTensorsFile file = SafeTensorsFile.Open(image);
        Assert.That(file.GetTensor("image").Shape, Is.EqualTo(new long[] { 1, 3, 64, 64 }));
        Assert.That(file.ReadFloats("image"), Is.EqualTo(managed.Decoded), "--image-out: the VAE's float output");
    }

    [Test]
    public void Cli_BadPipelineInput_IsOneLineAndNoFile()
    {
        string png = TempPath("out.png"), corrupt = TempPath("corrupt.png"), odd = TempPath("odd.png");
        string square = TempPath("square.png"), narrow = TempPath("narrow.png");
        File.WriteAllBytes(corrupt, [0x89, (byte)'P', (byte)'N', (byte)'G', 1, 2, 3]);
        Gradient(60, 64).SavePng(odd);
        Gradient(64, 64).SavePng(square);
        Solid(32, 64, 0).SavePng(narrow);
        string copy = TempPath("no-tokenizer");
        CopyFolder(_folder, copy, skip: "tokenizer_2");

        AssertRejected(Run("generate", "--model", _folder, "--prompt", "a", "--init-image", corrupt, "--output", png), corrupt);
        CliResult oddImage = Run("generate", "--model", _folder, "--prompt", "a", "--init-image", odd, "--output", png);
        AssertRejected(oddImage, "60 x 64");
        Assert.That(oddImage.Output, Does.Not.Contain("FLUX generate"), "refused before the pipeline loads");
        AssertRejected(Run("generate", "--model", _folder, "--prompt", "a", "--init-image", square, "--mask", narrow, "--output", png), "32 x 64", "64 x 64");
        AssertRejected(
            Run("generate", "--model", _folder, "--prompt", "a", "--init-image", square, "--width", "128", "--output", png),
            "--width and --height do not apply with --init-image");
        AssertRejected(Run("generate", "--model", copy, "--prompt", "a", "--width", "64", "--height", "64", "--output", png), "tokenizer_2");
        AssertRejected(Run("generate", "--model", FluxTiny, "--prompt", "a", "--output", png), "--prompt", "model_index.json");
        AssertRejected(Run("generate", "--model", _folder, "--output", png), "--prompt", "--embeddings");
        Assert.That(File.Exists(png), Is.False);
    }

    private void WriteTokenIds(string path, string prompt)
    {
        int[] clip = Tokenization.ClipTokenizer.Load(Path.Combine(_folder, "tokenizer")).Encode(prompt).Ids;
        int[] t5 = Tokenization.T5Tokenizer.Load(Path.Combine(_folder, "tokenizer_2"), 256).Encode(prompt).Ids;
        using var writer = new SafeTensorsWriter();
        writer.AddTensor("clip_input_ids", TensorDType.I64, [1, clip.Length], clip.SelectMany(id => BitConverter.GetBytes((long)id)).ToArray());
        writer.AddTensor("t5_input_ids", TensorDType.I64, [1, t5.Length], t5.SelectMany(id => BitConverter.GetBytes((long)id)).ToArray());
        writer.Save(path);
    }

    // A smooth colour ramp: a picture the VAE's encoder sees as an image, not as noise.
    private static RgbaImage Gradient(int width, int height)
    {
        var rgba = new byte[width * height * 4];
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                int p = ((y * width) + x) * 4;
                rgba[p] = (byte)(255 * x / Math.Max(1, width - 1));
                rgba[p + 1] = (byte)(255 * y / Math.Max(1, height - 1));
                rgba[p + 2] = 128;
                rgba[p + 3] = 255;
            }
        }

        return new RgbaImage(width, height, rgba);
    }

    private static RgbaImage Solid(int width, int height, byte gray)
    {
        var rgba = new byte[width * height * 4];
        for (int p = 0; p < rgba.Length; p += 4)
        {
            rgba.AsSpan(p, 3).Fill(gray);
            rgba[p + 3] = 255;
        }

        return new RgbaImage(width, height, rgba);
    }

    private static void CopyFolder(string from, string to, string skip)
    {
        foreach (string file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(from, file);
            if (relative.StartsWith(skip + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                continue;
            }

            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(to, relative))!);
            File.Copy(file, Path.Combine(to, relative));
        }
    }

    private sealed class Reporter(Action<GenerationProgress> report) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value) => report(value);
    }
}
