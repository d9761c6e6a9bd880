using System;
using System.Buffers.Binary;
using System.IO;
using System.Linq;
using NUnit.Framework;

namespace SvdQuant.Tests;

/// <summary>
/// The `svdquant` command line as a whole: every command's help, and a bad command line is exit
/// code 2 with one line, and the demo. The commands' own tests: CliLayerTests, CliQuantizeTests,
/// CliFluxForwardTests, CliInspectTests, CliGenerateTests.
/// </summary>
public sealed class CliTests : CliFixture
{
    [TestCase("--help")]
    [TestCase("demo", "--help")]
    [TestCase("quantize", "--help")]
    [TestCase("flux", "forward", "--help")]
    [TestCase("layer", "quantize", "--help")]
    [TestCase("layer", "run", "--help")]
    [TestCase("inspect", "--help")]
    [TestCase("generate", "--help")]
    public void EveryCommand_PrintsItsHelp(params string[] arguments)
    {
        CliResult result = Run(arguments);

        Assert.Multiple(() =>
        {
            AssertSucceeded(result);
            Assert.That(result.Output, Does.Contain("USAGE:"));
        });
    }

    /// <summary>
    /// The demo end to end (small): the layer table, then the generation table with a latent PSNR
    /// for W4A16 and SVDQuant and the preview PNG at the image's size. It broke once unnoticed
    /// (a method/format pair the engine refuses), which only running it shows.
    /// </summary>
    [Test]
    public void Demo_RunsBothPartsAndWritesThePreview()
    {
        string png = TempPath("demo.png");
        CliResult result = Run("demo", "--tokens", "8", "--steps", "1", "--output", png);

        AssertSucceeded(result);
        Assert.Multiple(() =>
        {
            Assert.That(result.Output, Does.Contain("Int4 SvdQuant").And.Contain("Nvfp4 SvdQuant"));
            Assert.That(result.Output, Does.Match(@"W4A16\s+│\s+[0-9.]+ dB"));
            Assert.That(result.Output, Does.Match(@"SVDQuant W4A4 r32\s+│\s+[0-9.]+ dB"));
            byte[] header = File.ReadAllBytes(png);
            Assert.That(header.Take(8), Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }), "a PNG");
            Assert.That(BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(16)), Is.EqualTo(256), "IHDR width");
            Assert.That(BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(20)), Is.EqualTo(256), "IHDR height");
        });
    }

    [TestCase("transmogrify")]
    [TestCase("layer", "run", "--no-such-option", "1")]
    public void BadCommandLine_Exits2WithOneLine(params string[] arguments) => AssertRejected(Run(arguments));

    /// <summary>A value its option cannot take is named with the option and what it takes, not a .NET type.</summary>
    [TestCase("--steps abc", "--steps 'abc': expected a number")]
    [TestCase("--seed -1", "--seed '-1': expected a whole number, 0 or more")]
    [TestCase("--seed=x", "--seed 'x': expected a whole number, 0 or more")]
    [TestCase("--width 1e3", "--width '1e3': expected a whole number")]
    [TestCase("--attention fp8", "--attention 'fp8': Valid values are 'Auto', 'Fp32', 'Bf16'")]
    public void AValueItsOptionCannotTake_NamesTheOption(string option, string message)
    {
        CliResult result = Run(["generate", "--model", FluxTiny, "--embeddings", "e.safetensors", "--output", TempPath("o.png"), .. option.Split(' ')]);

        AssertRejected(result, message);
        Assert.That(result.Errors, Does.Not.Contain("Nullable").And.Not.Contain("UInt64").And.Not.Contain("Int32"));
    }
}
