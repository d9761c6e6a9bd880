using System;
using System.IO;
using NUnit.Framework;
using SvdQuant.Formats;

namespace SvdQuant.Tests;

/// <summary>`svdquant flux forward` on the tiny reference model, in a child process.</summary>
public sealed class CliFluxForwardTests : CliFixture
{
    private static readonly string Inputs = Path.Combine(FluxTiny, "inputs.safetensors");

    /// <summary>
    /// Each --precision word gives `output` [2, 16, 16] as F32, against the float64 diffusers output of
    /// the README's test data (max |out - expected| / max |expected|): Float to 1e-4 (the data's own
    /// bound; measured 1.1e-5); W4A16 and W4A4 (round-to-nearest at load) within 5% of their measured
    /// errors, 0.0698 and 0.1208, and for W4A4 of 0.1144 at Avx512Bf16 (its W4A16 adaNorm layers read
    /// BF16 activations; W4A16 stays within its range there).
    /// </summary>
    [TestCase("Float", 0.0, 1e-4)]
    [TestCase("W4A16", 0.0663, 0.0733)]
    [TestCase("W4A4", 0.1087, 0.1269)]
    [TestCase("w4a4", 0.1087, 0.1269)]
    public void EveryPrecision_WritesTheOutput(string precision, double min, double max)
    {
        string output = TempPath("out.safetensors");

        CliResult result = Run("flux", "forward", "--model", FluxTiny, "--inputs", Inputs, "--output", output, "--precision", precision);

        AssertSucceeded(result);
        double error = MaxRelativeError(output);
        TestContext.Out.WriteLine($"flux forward --precision {precision}: max rel error {error:E3}");
        Assert.That(error, Is.InRange(min, max));
    }

    [Test]
    public void BadPrecision_Exits2_AndLeavesNoFile()
    {
        string output = TempPath("out.safetensors");

        CliResult result = Run("flux", "forward", "--model", FluxTiny, "--inputs", Inputs, "--output", output, "--precision", "W8A8");

        AssertRejected(result, "W8A8");
        Assert.That(File.Exists(output), Is.False);
    }

    [Test]
    public void InputsWithoutHiddenStates_NameTheFileAndTensor_AndLeaveNoFile()
    {
        string output = TempPath("out.safetensors"), inputs = Path.Combine(FluxTiny, "expected.safetensors");

        CliResult result = Run("flux", "forward", "--model", FluxTiny, "--inputs", inputs, "--output", output);

        AssertRejected(result, inputs, "'hidden_states'");
        Assert.That(File.Exists(output), Is.False);
    }

    /// <summary>max |out - expected| / max |expected| of the file's `output`, after checking its dtype and shape.</summary>
    internal static double MaxRelativeError(string outputPath)
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(outputPath);
        using SafeTensorsFile expectedFile = SafeTensorsFile.Open(Path.Combine(FluxTiny, "expected.safetensors"));
        TensorInfo info = file.GetTensor("output");
        Assert.That(info.DType, Is.EqualTo(TensorDType.F32));
        Assert.That(info.Shape, Is.EqualTo(new long[] { 2, 16, 16 }));
        float[] actual = file.ReadFloats("output"), expected = expectedFile.ReadFloats("output");
        double difference = 0, scale = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            difference = Math.Max(difference, Math.Abs((double)actual[i] - expected[i]));
            scale = Math.Max(scale, Math.Abs(expected[i]));
        }

        return difference / scale;
    }
}
