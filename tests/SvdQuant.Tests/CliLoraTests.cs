using System.IO;
using System.Linq;
using NUnit.Framework;
using SvdQuant.Formats;
using SvdQuant.Generation;
using SvdQuant.Models;
using SvdQuant.Quantization;
using static SvdQuant.Tests.FluxTinyGeneration;
using static SvdQuant.Tests.TestLoras;

namespace SvdQuant.Tests;

/// <summary>
/// `--lora FILE[:STRENGTH]` on `flux forward`, `generate` and `quantize`, and `svdquant lora inspect`, in a child
/// process: the outputs equal the managed API's with the same LoRAs, warnings name every unmatched key and
/// defaulted alpha, and a bad LoRA is one line, exit code 2 and no file.
/// </summary>
public sealed class CliLoraTests : CliFixture
{
    private static readonly string Inputs = Path.Combine(FluxTiny, "inputs.safetensors");

    /// <summary>The test LoRA (see <see cref="TinyFluxLora"/>) in a file whose name has a ':', as a Windows path with a drive letter would.</summary>
    private string TinyLora(LoraKeyStyle style = LoraKeyStyle.Diffusers)
    {
        string path = TempPath($"c:{style}.safetensors");
        TestLoras.Write(path, style, TinyFluxLora.Modules(style));
        return path;
    }

    // A second LoRA on the context MLP, every alpha given.
    private string ContextLora()
    {
        string path = TempPath("context.safetensors");
        TestLoras.Write(path, LoraKeyStyle.Bfl, [Module("double_blocks.1.txt_mlp.0", 8, Inner, Mlp, alpha: 16, seed: 20)]);
        return path;
    }

    /// <summary>
    /// Two --lora options, one with a strength after the last ':' of a name that has one, one without (1): the output
    /// is the managed API's with the same LoRAs bit for bit, and differs from the model's own. The defaulted alphas
    /// are one warning naming every module.
    /// </summary>
    [TestCase(LinearScheme.Float)]
    [TestCase(LinearScheme.W4A4)]
    public void FluxForward_WithLoras_IsTheManagedApisOutput(LinearScheme precision)
    {
        string lora = TinyLora(), context = ContextLora(), output = TempPath("out.safetensors");

        CliResult result = Run("flux", "forward", "--model", FluxTiny, "--inputs", Inputs, "--output", output, "--precision", precision.ToString(),
            "--lora", lora + ":0.5", "--lora", context);

        AssertSucceeded(result);
        using var engine = new Engine();
        using FluxTransformer model = FluxTransformer.Load(engine, FluxTiny, new FluxLoadOptions { BlockScheme = precision });
        float[] original = model.Forward(engine, FluxTransformerTests.ReadInputs());
        model.Loras.Add(engine, lora, 0.5f);
        model.Loras.Add(engine, context);
        float[] expected = model.Forward(engine, FluxTransformerTests.ReadInputs());
        using SafeTensorsFile file = SafeTensorsFile.Open(output);
        string[] warnings = result.Errors.Split('\n', System.StringSplitOptions.RemoveEmptyEntries);
        Assert.Multiple(() =>
        {
            Assert.That(file.ReadFloats("output"), Is.EqualTo(expected));
            Assert.That(MaxRelativeDifference(expected, original), Is.GreaterThan(0.05), "the LoRAs matter");
            Assert.That(result.Output, Does.Contain(lora).And.Contain(context));
            Assert.That(warnings, Has.Length.EqualTo(1), result.Errors);
            Assert.That(warnings[0], Does.StartWith("svdquant: warning: ").And.Contain(lora).And.Contain("alpha"));
            foreach (string module in TinyFluxLora.DefaultedAlpha)
            {
                Assert.That(warnings[0], Does.Contain(module));
            }
        });
    }

    /// <summary>Keys that match nothing are one warning on stderr that lists all of them; the run goes on.</summary>
    [Test]
    public void FluxForward_UnmatchedKeys_AreOneWarningListingAll()
    {
        string lora = TempPath("partial.safetensors"), output = TempPath("out.safetensors");
        string[] foreign = ["transformer.unknown_a", "transformer.unknown_b"];
        TestLoras.Write(lora, LoraKeyStyle.Diffusers,
        [
            Module("transformer.transformer_blocks.0.attn.to_q", 4, Inner, Inner, alpha: 4, seed: 1),
            .. foreign.Select((name, i) => Module(name, 2, Inner, Inner, alpha: 2, seed: 2 + i)),
        ], TensorDType.F32, ("transformer.stray", [1f]));

        CliResult result = Run("flux", "forward", "--model", FluxTiny, "--inputs", Inputs, "--output", output, "--lora", lora);

        AssertSucceeded(result);
        string warning = result.Errors.Trim();
        Assert.Multiple(() =>
        {
            Assert.That(warning, Does.StartWith("svdquant: warning: ").And.Not.Contain('\n'));
            Assert.That(warning, Does.Contain("7 keys"));
            foreach (string key in foreign.SelectMany(m => new[] { m + ".lora_A.weight", m + ".lora_B.weight", m + ".alpha" }).Append("transformer.stray"))
            {
                Assert.That(warning, Does.Contain(key));
            }

            Assert.That(File.Exists(output), Is.True);
        });
    }

    /// <summary>generate with a transformer alone (--embeddings) and a LoRA: the managed generator's latents with that LoRA, bit for bit.</summary>
    [Test]
    public void Generate_WithLora_IsTheManagedGeneratorsRun()
    {
        string lora = TinyLora(LoraKeyStyle.Kohya), embeddings = TempPath("e.safetensors"), latents = TempPath("l.safetensors");
        WriteEmbeddings(embeddings, Prompt());

        CliResult result = Run("generate", "--model", FluxTiny, "--embeddings", embeddings, "--width", "64", "--height", "48", "--steps", "3",
            "--lora", lora + ":0.8", "--output", TempPath("out.png"), "--latents-out", latents);

        AssertSucceeded(result);
        var options = new GenerationOptions { Width = Width, Height = Height, Steps = 3, Seed = 42 };
        using var engine = new Engine();
        using FluxTransformer model = FluxTransformer.Load(engine, FluxTiny);
        float[] original = Generate(engine, model, options);
        model.Loras.Add(engine, lora, 0.8f);
        float[] expected = Generate(engine, model, options);
        using SafeTensorsFile file = SafeTensorsFile.Open(latents);
        Assert.Multiple(() =>
        {
            Assert.That(file.ReadFloats("latents"), Is.EqualTo(expected));
            Assert.That(MaxRelativeDifference(expected, original), Is.GreaterThan(0.01), "the LoRA matters");
        });
    }

    /// <summary>
    /// quantize --lora merges the LoRA into the float weights before quantizing: the file is the managed quantizer's
    /// with the same LoRA byte for byte, it loads and runs, and its output is near flux-tiny with the LoRA merged
    /// (measured in the message), far nearer than to flux-tiny without it.
    /// </summary>
    [Test]
    public void Quantize_WithLora_WritesWhatTheQuantizerWrites_AndItLoads()
    {
        string lora = TinyLora(), fromCli = TempPath("cli.safetensors"), fromApi = TempPath("api.safetensors"), merged = TempPath("merged");

        CliResult result = Run("quantize", "--model", FluxTiny, "--output", fromCli, "--rank", "16", "--calib", Inputs, "--lora", lora + ":0.75");

        AssertSucceeded(result);
        Assert.That(result.Output, Does.Contain(lora));
        using (var engine = new Engine())
        {
            var options = new QuantizerOptions { Rank = 16 };
            options.Loras.Add(new LoraMerge(lora, 0.75f));
            Quantizer.QuantizeFlux(engine, FluxTiny, fromApi, options, Inputs);
        }

        using (SafeTensorsFile cli = SafeTensorsFile.Open(fromCli), api = SafeTensorsFile.Open(fromApi))
        {
            Assert.That(cli.Tensors.Select(t => t.Name), Is.EquivalentTo(api.Tensors.Select(t => t.Name)));
            foreach (TensorInfo tensor in api.Tensors)
            {
                Assert.That(System.MemoryExtensions.SequenceEqual(cli.GetData(tensor.Name), api.GetData(tensor.Name)), Is.True, tensor.Name);
            }
        }

        WriteMergedFluxTiny(merged, TinyFluxLora.Deltas(0.75));
        using var run = new Engine();
        using FluxTransformer quantized = FluxTransformer.Load(run, fromCli);
        using FluxTransformer withLora = FluxTransformer.Load(run, merged);
        using FluxTransformer without = FluxTransformer.Load(run, FluxTiny);
        FluxInputs inputs = FluxTransformerTests.ReadInputs();
        float[] output = quantized.Forward(run, inputs);
        double toMerged = MaxRelativeDifference(output, withLora.Forward(run, inputs));
        double toOriginal = MaxRelativeDifference(output, without.Forward(run, inputs));
        TestContext.Out.WriteLine($"quantize --lora: max rel error {toMerged:0.0000} against the merged float model, {toOriginal:0.0000} against flux-tiny");
        Assert.That(toMerged, Is.LessThan(toOriginal / 2));
    }

    /// <summary>lora inspect: key style, module counts, rank range, alphas and their default, every module and every unused key.</summary>
    [Test]
    public void LoraInspect_DescribesTheFile()
    {
        string path = TempPath("kohya.safetensors");
        var modules = TinyFluxLora.Modules(LoraKeyStyle.Kohya).Append(Module("lora_te1_text_model_encoder_layers_0_mlp_fc1", 4, 32, 48, alpha: 4, seed: 60)).ToList();
        TestLoras.Write(path, LoraKeyStyle.Kohya, modules, TensorDType.BF16, ("some_stray_key", [1f]));

        CliResult result = Run("lora", "inspect", path);

        AssertSucceeded(result);
        Assert.Multiple(() =>
        {
            Assert.That(result.Output, Does.Contain("kohya"));
            Assert.That(result.Output, Does.Contain("6 (5 FLUX.1 transformer modules by name)"));
            Assert.That(result.Output, Does.Contain("2 to 12"), "ranks: img_in 2 to the fused qkv 12");
            Assert.That(result.Output, Does.Contain("1 to 12; defaults to rank in 1 of 6 modules"));
            Assert.That(result.Output, Does.Contain("Unused keys (1):").And.Contain("some_stray_key"));
            foreach (TestLoraModule m in modules)
            {
                Assert.That(result.Output, Does.Contain(m.Name));
            }
        });
    }

    [Test]
    public void LoraInspect_BadFile_Exits2_NamingIt()
    {
        string missing = TempPath("absent.safetensors"), half = TempPath("half.safetensors");
        using (var writer = new SafeTensorsWriter())
        {
            writer.AddTensor("img_in.lora_A.weight", [2, 16], new float[32]);
            writer.Save(half);
        }

        AssertRejected(Run("lora", "inspect", missing), missing);
        AssertRejected(Run("lora", "inspect", half), "img_in");
    }

    /// <summary>
    /// A bad --lora on each command (a strength that is not finite, a missing file, a LoRA for another model, one whose
    /// shapes do not fit) is one line naming it, exit code 2, and no output file.
    /// </summary>
    [Test]
    public void ABadLora_IsOneLine_Exit2_NoFile(
        [Values("flux", "generate", "quantize")] string command, [Values("nan", "overflow", "missing", "foreign", "shape")] string bad)
    {
        string output = TempPath(command == "generate" ? "out.png" : "out.safetensors"), embeddings = TempPath("e.safetensors");
        string good = TempPath("good.safetensors"), foreign = TempPath("sdxl.safetensors"), shape = TempPath("shape.safetensors");
        WriteEmbeddings(embeddings, Prompt());
        TestLoras.Write(good, LoraKeyStyle.Diffusers, [Module("transformer.transformer_blocks.0.attn.to_q", 4, Inner, Inner, alpha: 4, seed: 70)]);
        TestLoras.Write(foreign, LoraKeyStyle.Kohya, [Module("lora_unet_down_blocks_0_attentions_0_proj_in", 4, 320, 320, alpha: 4, seed: 71)]);
        TestLoras.Write(shape, LoraKeyStyle.Diffusers, [Module("transformer.transformer_blocks.1.attn.to_k", 4, 48, Inner, alpha: 4, seed: 72)]);
        (string lora, string named) = bad switch
        {
            "nan" => (good + ":NaN", "NaN"),
            "overflow" => (good + ":1e40", "1e40"),
            "missing" => (TempPath("absent.safetensors"), "absent.safetensors"),
            "foreign" => (foreign, foreign),
            _ => (shape, "transformer.transformer_blocks.1.attn.to_k"),
        };
        string[] arguments = command switch
        {
            "flux" => ["flux", "forward", "--model", FluxTiny, "--inputs", Inputs, "--output", output],
            "generate" => ["generate", "--model", FluxTiny, "--embeddings", embeddings, "--width", "64", "--height", "48", "--steps", "2", "--output", output],
            _ => ["quantize", "--model", FluxTiny, "--output", output, "--rank", "16", "--calib", Inputs],
        };

        CliResult result = Run([.. arguments, "--lora", lora]);

        // The engine's own messages name the file it read or the key that does not fit; that nothing in a file
        // matches is found while quantizing, where the CLI cannot tell which --lora it was.
        AssertRejected(result, command == "quantize" && bad == "foreign" ? [] : [named]);
        Assert.That(File.Exists(output), Is.False);
    }

    private static float[] Generate(Engine engine, FluxTransformer model, GenerationOptions options)
    {
        using FluxGenerator generator = FluxGenerator.Create(model, options);
        return generator.Generate(engine, new GenerationInputs(Prompt())).Latents;
    }
}
