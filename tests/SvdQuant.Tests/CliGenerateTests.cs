using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using NUnit.Framework;
using SvdQuant.Formats;
using SvdQuant.Generation;
using SvdQuant.Models;
using static SvdQuant.Tests.FluxTinyGeneration;

namespace SvdQuant.Tests;

/// <summary>
/// `svdquant generate` on flux-tiny in a child process: the PNG and latents equal the managed API's,
/// --noise reproduces given latents, the guidance note of a model without a guidance embedding,
/// each bad input one line with exit code 2 and no file, and a signal cancelling with no file left.
/// </summary>
public sealed class CliGenerateTests : CliFixture
{
    private string Embeddings()
    {
        string path = TempPath("e.safetensors");
        if (!File.Exists(path))
        {
            WriteEmbeddings(path, Prompt());
        }

        return path;
    }

    private string[] Arguments(params string[] extra) =>
        ["generate", "--model", FluxTiny, "--embeddings", Embeddings(), "--width", "64", "--height", "48", "--steps", "3", .. extra];

    [Test]
    public void ARun_WritesThePreviewAndTheLatentsOfTheManagedApi()
    {
        string png = TempPath("out.png"), latents = TempPath("l.safetensors");

        CliResult result = Run(Arguments("--sampler", "heun", "--output", png, "--latents-out", latents));

        AssertSucceeded(result);
        GenerationResult expected = Managed(new GenerationOptions { Width = 64, Height = 48, Steps = 3, Seed = 42, Sampler = FluxSampler.Heun }, noise: null);
        using (SafeTensorsFile file = SafeTensorsFile.Open(latents))
        {
            TensorInfo info = file.GetTensor("latents");
            Assert.That((info.DType, info.Shape), Is.EqualTo((TensorDType.F32, new long[] { 1, Tokens, Features })));
            Assert.That(file.ReadFloats("latents"), Is.EqualTo(expected.Latents), "the CLI's default seed is 42");
        }

        (int width, int height, byte[] rgba) = PngReader.Read(png);
        Assert.Multiple(() =>
        {
            Assert.That((width, height), Is.EqualTo((64, 48)), "the image's size");
            Assert.That(rgba, Is.EqualTo(expected.Preview(8).Rgba));
            Assert.That(result.Output, Does.Contain("64 x 48").And.Contain("3 steps").And.Contain("5 evaluations").And.Contain("0 cached").And.Contain(png));
            Assert.That(Directory.GetFiles(TempPath("")).Select(Path.GetFileName), Is.EquivalentTo(new[] { "e.safetensors", "out.png", "l.safetensors" }));
        });
    }

    [Test]
    public void GivenNoise_ReproducesTheManagedRunFromIt()
    {
        string noisePath = TempPath("noise.safetensors"), latents = TempPath("l.safetensors");
        float[] noise = Pattern(Tokens * Features, 1.5f, 0.4f);
        using (var writer = new SafeTensorsWriter())
        {
            writer.AddTensor("noise", [1, Tokens, Features], noise);
            writer.Save(noisePath);
        }

        AssertSucceeded(Run(Arguments("--noise", noisePath, "--seed", "5", "--output", TempPath("o.png"), "--latents-out", latents)));

        GenerationResult expected = Managed(new GenerationOptions { Width = 64, Height = 48, Steps = 3, Seed = 99 }, noise);
        using SafeTensorsFile file = SafeTensorsFile.Open(latents);
        Assert.That(file.ReadFloats("latents"), Is.EqualTo(expected.Latents), "the noise, not the seed, decides");
    }

    [Test]
    public void GuidanceOnAModelWithoutItsEmbedding_IsANoteNotAnError()
    {
        string schnell = TempPath("schnell");
        WriteSchnellCopy(schnell);
        string png = TempPath("s.png");
        string[] common = ["generate", "--model", schnell, "--embeddings", Embeddings(), "--width", "64", "--height", "48", "--steps", "2", "--output", png];

        CliResult given = Run([.. common, "--guidance", "5"]);
        CliResult defaulted = Run(common);

        AssertSucceeded(given);
        AssertSucceeded(defaulted);
        Assert.That(given.Errors.Trim(), Is.EqualTo("svdquant: note: --guidance ignored: the model has no guidance embedding"));
        Assert.That(defaulted.Errors, Is.Empty, "no note when --guidance was not given");
        Assert.That(File.Exists(png), Is.True);
    }

    [TestCase("--width", "8", "8 x 48", "at least 16")]
    [TestCase("--height", "0", "64 x 0", "at least 16")]
    [TestCase("--steps", "0", "--steps 0")]
    [TestCase("--sampler", "ddim", "unknown sampler 'ddim'")]
    [TestCase("--cache", "-1", "cache threshold")]
    [TestCase("--true-cfg", "3", "negative")]
    [TestCase("--strength", "0.5", "--strength needs --init-image")]
    public void ABadOption_IsOneLine_Exit2_NoPng(string option, string value, params string[] named)
    {
        string png = TempPath("out.png");

        CliResult result = Run(Arguments(option, value, "--output", png));

        AssertRejected(result, named);
        Assert.That(File.Exists(png), Is.False);
    }

    [Test]
    public void ASideNotAMultipleOf16_IsRoundedDownWithANote()
    {
        string png = TempPath("out.png");

        CliResult result = Run("generate", "--model", FluxTiny, "--embeddings", Embeddings(), "--width", "70", "--height", "48", "--steps", "1", "--output", png);

        AssertSucceeded(result);
        Assert.Multiple(() =>
        {
            Assert.That(result.Errors.Trim(), Is.EqualTo("svdquant: note: --width 70 is rounded down to 64, a multiple of 16"));
            Assert.That(PngReader.Read(png).Width, Is.EqualTo(64));
        });
    }

    [Test]
    public void AnOutputThatIsNotAPngOrCannotBeWritten_IsRefusedBeforeTheModelLoads()
    {
        string jpg = TempPath("out.jpg"), unwritable = TempPath(Path.Combine("missing", "out.png"));

        CliResult notPng = Run(Arguments("--output", jpg));
        CliResult noFolder = Run(Arguments("--output", TempPath("out.png"), "--latents-out", TempPath(Path.Combine("missing", "l.safetensors"))));
        CliResult noFolderForPng = Run(Arguments("--output", unwritable));

        Assert.Multiple(() =>
        {
            AssertRejected(notPng, jpg, "give the file a .png name");
            AssertRejected(noFolder, "the folder", "missing", "does not exist");
            AssertRejected(noFolderForPng, "the folder", "does not exist");
            Assert.That(noFolder.Output + noFolderForPng.Output, Does.Not.Contain("FLUX generate"), "refused before loading and sampling");
            Assert.That(Directory.GetFiles(TempPath("")).Select(Path.GetFileName), Is.EquivalentTo(new[] { "e.safetensors" }), "no file written");
        });
    }

    [Test]
    public void BadFiles_AreOneLine_Exit2_NoPng()
    {
        string png = TempPath("out.png"), wide = TempPath("wide.safetensors"), noKey = TempPath("nokey.safetensors"), noise = TempPath("noise.safetensors");
        WriteEmbeddings(wide, new TextConditioning(new float[TextTokens * 40], TextTokens, new float[24]));
        using (var writer = new SafeTensorsWriter())
        {
            writer.AddTensor("encoder_hidden_states", [1, TextTokens, 32], new float[TextTokens * 32]);
            writer.Save(noKey);
            writer.AddTensor("noise", [1, Tokens * 2, Features / 2], new float[Tokens * Features]);
            writer.Save(noise);
        }

        string[] Base(string embeddings) =>
            ["generate", "--model", FluxTiny, "--embeddings", embeddings, "--width", "64", "--height", "48", "--steps", "2", "--output", png];

        Assert.Multiple(() =>
        {
            AssertRejected(Run(Base(wide)), "encoder_hidden_states", "40");
            AssertRejected(Run(Base(noKey)), noKey, "missing tensor 'pooled_projections'");
            AssertRejected(Run([.. Base(Embeddings()), "--noise", noise]), "noise is [1, 24, 8]", "[1, 12, 16]");
            AssertRejected(Run([.. Base(Embeddings()), "--noise", Embeddings()]), "missing tensor 'noise'");
            AssertRejected(Run([.. Base(Embeddings()), "--negative", noKey, "--true-cfg", "2"]), "pooled_projections");
            Assert.That(File.Exists(png), Is.False);
        });
    }

    [TestCase(2)]   // SIGINT
    [TestCase(15)]  // SIGTERM
    public void ASignal_CancelsWithNoFileLeft(int signal)
    {
        AssumeChildrenReceive(signal);
        // 1024 x 1024 (4096 tokens) for 10000 steps runs for minutes, far longer than the signal takes to
        // arrive even on a loaded machine (flux-tiny at 256 tokens finished 2000 steps first in one CI run).
        string png = TempPath("out.png"), latents = TempPath("l.safetensors");
        string[] arguments = ["generate", "--model", FluxTiny, "--embeddings", Embeddings(), "--width", "1024", "--height", "1024", "--steps", "10000",
            "--output", png, "--latents-out", latents];
        Process process = Start(arguments);
        // The start line is printed once the model is loaded and the inputs read, just before the first step.
        Task<string?> line = process.StandardOutput.ReadLineAsync();
        Assert.That(line.Wait(TimeSpan.FromMinutes(1)), Is.True, "generation never started");
        Assert.That(line.Result, Does.StartWith("FLUX generate: 1024 x 1024, 10000 steps"));

        SendSignal(process, signal);
        CliResult result = Finish(process, arguments);

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(130), result.Errors);
            Assert.That(result.Errors, Does.Contain("cancelled; no file written"));
            Assert.That(Directory.GetFiles(TempPath("")).Select(Path.GetFileName), Is.EqualTo(new[] { "e.safetensors" }), "no PNG, no latents, no temporaries");
        });
    }

    private static GenerationResult Managed(GenerationOptions options, float[]? noise)
    {
        using var engine = new Engine();
        using FluxTransformer model = FluxTransformer.Load(engine, FluxTiny);
        using FluxGenerator generator = FluxGenerator.Create(model, options);
        return generator.Generate(engine, new GenerationInputs(Prompt()) { Noise = noise });
    }
}
