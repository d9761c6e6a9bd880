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
    /// errors: at the fp32 levels 0.0698 and 0.1208; at Avx512Bf16, where the 4-bit models' attention
    /// is BF16 (--attention auto), 0.0702 and 0.1373 (naive W4A4's 4-bit activations flip levels on
    /// BF16's small moves). With --attention fp32, W4A4 at Avx512Bf16 is 0.1144 (its W4A16 adaNorm
    /// layers still read BF16 activations).
    /// </summary>
    [TestCase("Float", null, 0.0, 0.0)]
    [TestCase("W4A16", null, 0.0698, 0.0702)]
    [TestCase("W4A4", null, 0.1208, 0.1373)]
    [TestCase("w4a4", null, 0.1208, 0.1373)]
    [TestCase("W4A4", "fp32", 0.1208, 0.1144)]
    public void EveryPrecision_WritesTheOutput(string precision, string? attention, double measuredFp32, double measuredBf16)
    {
        double measured;
        using (var engine = new Engine()) measured = engine.CpuLevel == CpuLevel.Avx512Bf16 ? measuredBf16 : measuredFp32;
        string output = TempPath("out.safetensors");

        string[] attentionArguments = attention is null ? [] : ["--attention", attention];
        CliResult result = Run(
            ["flux", "forward", "--model", FluxTiny, "--inputs", Inputs, "--output", output, "--precision", precision, .. attentionArguments]);

        AssertSucceeded(result);
        double error = MaxRelativeError(output);
        TestContext.Out.WriteLine($"flux forward --precision {precision} --attention {attention ?? "auto"}: max rel error {error:E3}");
        if (measured == 0.0)
        {
            Assert.That(error, Is.LessThan(1e-4));
        }
        else
        {
            Assert.That(error, Is.InRange(0.95 * measured, 1.05 * measured), $"measured {measured}");
        }
    }

    [Test]
    public void APipelineFolder_RunsItsTransformer()
    {
        string pipeline = TempPath("pipeline"), transformer = Path.Combine(pipeline, "transformer");
        Directory.CreateDirectory(transformer);
        File.WriteAllText(Path.Combine(pipeline, "model_index.json"), "{\"_class_name\": \"FluxPipeline\"}");
        foreach (string name in new[] { "config.json", "diffusion_pytorch_model.safetensors" })
        {
            File.Copy(Path.Combine(FluxTiny, name), Path.Combine(transformer, name));
        }

        string fromPipeline = TempPath("p.safetensors"), fromTransformer = TempPath("t.safetensors");
        AssertSucceeded(Run("flux", "forward", "--model", pipeline, "--inputs", Inputs, "--output", fromPipeline));
        AssertSucceeded(Run("flux", "forward", "--model", transformer, "--inputs", Inputs, "--output", fromTransformer));

        using SafeTensorsFile a = SafeTensorsFile.Open(fromPipeline), b = SafeTensorsFile.Open(fromTransformer);
        Assert.That(a.ReadFloats("output"), Is.EqualTo(b.ReadFloats("output")));
        Assert.That(MaxRelativeError(fromPipeline), Is.LessThan(1e-4), "the transformer's output, not zeros");
    }

    [Test]
    public void BadAttention_Exits2_AndLeavesNoFile()
    {
        string output = TempPath("out.safetensors");

        CliResult result = Run("flux", "forward", "--model", FluxTiny, "--inputs", Inputs, "--output", output, "--attention", "fp8");

        AssertRejected(result, "fp8");
        Assert.That(File.Exists(output), Is.False);
    }

    [TestCase("--precision", "W8A8")]
    [TestCase("--attention", "fp8")]
    public void BadWord_Exits2_AndLeavesNoFile(string option, string word)
    {
        string output = TempPath("out.safetensors");

        CliResult result = Run("flux", "forward", "--model", FluxTiny, "--inputs", Inputs, "--output", output, option, word);

        AssertRejected(result, word);
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
