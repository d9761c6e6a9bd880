using NUnit.Framework;

namespace SvdQuant.Tests;

/// <summary>
/// The `svdquant` command line as a whole: every command's help, and a bad command line is exit
/// code 2 with one line. The commands' own tests: CliLayerTests, CliQuantizeTests,
/// CliFluxForwardTests, CliInspectTests.
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
    public void EveryCommand_PrintsItsHelp(params string[] arguments)
    {
        CliResult result = Run(arguments);

        Assert.Multiple(() =>
        {
            AssertSucceeded(result);
            Assert.That(result.Output, Does.Contain("USAGE:"));
        });
    }

    [TestCase("transmogrify")]
    [TestCase("layer", "run", "--no-such-option", "1")]
    public void BadCommandLine_Exits2WithOneLine(params string[] arguments) => AssertRejected(Run(arguments));
}
