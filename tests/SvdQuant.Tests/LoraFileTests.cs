using System;
using System.IO;
using System.Linq;
using NUnit.Framework;
using SvdQuant.Formats;
using SvdQuant.Models;
using static SvdQuant.Tests.TestLoras;

namespace SvdQuant.Tests;

/// <summary>
/// <see cref="LoraFile"/>: the key style, modules (name, rank, alpha or its default, widths, whether FLUX
/// names it), the keys of no module, and the file errors, named.
/// </summary>
public sealed class LoraFileTests
{
    private string _dir = null!;

    [SetUp]
    public void CreateFolder() => _dir = Directory.CreateTempSubdirectory("svdq-lorafile-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_dir, recursive: true);

    private string TempPath(string name) => Path.Combine(_dir, name);

    [TestCase(LoraKeyStyle.Diffusers, true)]
    [TestCase(LoraKeyStyle.Diffusers, false)]
    [TestCase(LoraKeyStyle.Kohya, true)]
    [TestCase(LoraKeyStyle.Bfl, true)]
    public void Load_DescribesEveryModule(LoraKeyStyle style, bool prefix)
    {
        string path = TempPath("lora.safetensors");
        var written = TinyFluxLora.Modules(style, prefix).ToList();
        Write(path, style, written);

        using LoraFile lora = LoraFile.Load(path);

        Assert.Multiple(() =>
        {
            Assert.That(lora.Path, Is.EqualTo(path));
            Assert.That(lora.KeyStyle, Is.EqualTo(style));
            Assert.That(lora.Modules.Select(m => m.Name), Is.EquivalentTo(written.Select(m => m.Name)));
            foreach (TestLoraModule expected in written)
            {
                LoraModule m = lora.Modules.Single(x => x.Name == expected.Name);
                Assert.That(m.Rank, Is.EqualTo(expected.Rank), m.Name);
                Assert.That(m.InFeatures, Is.EqualTo(expected.Down.GetLength(1)), m.Name);
                Assert.That(m.OutFeatures, Is.EqualTo(expected.Up.GetLength(0)), m.Name);
                Assert.That(m.AlphaGiven, Is.EqualTo(expected.Alpha is not null), m.Name);
                Assert.That(m.Alpha, Is.EqualTo(expected.Alpha ?? expected.Rank), m.Name);
                Assert.That(m.IsFluxModule, Is.True, m.Name);
            }

            Assert.That(lora.FluxModuleCount, Is.EqualTo(written.Count));
            Assert.That(lora.MinRank, Is.EqualTo(written.Min(m => m.Rank)));
            Assert.That(lora.MaxRank, Is.EqualTo(written.Max(m => m.Rank)));
            Assert.That(lora.MissingAlphaCount, Is.EqualTo(written.Count(m => m.Alpha is null)));
            Assert.That(lora.UnusedKeys, Is.Empty);
        });
    }

    /// <summary>A module of no FLUX linear is a module all the same (IsFluxModule false); a stray tensor is an unused key, listed.</summary>
    [Test]
    public void Load_ListsForeignModulesAndUnusedKeys()
    {
        string path = TempPath("lora.safetensors");
        Write(path, LoraKeyStyle.Diffusers,
        [
            Module("transformer.transformer_blocks.0.attn.to_q", 4, Inner, Inner, alpha: null, seed: 1),
            Module("transformer.text_model.encoder.layers.0.mlp.fc1", 8, 32, 48, alpha: 8, seed: 2),
        ], TensorDType.F32, ("transformer.stray_tensor", [1f]), ("another_stray", [2f, 3f]));

        using LoraFile lora = LoraFile.Load(path);

        Assert.Multiple(() =>
        {
            Assert.That(lora.Modules, Has.Count.EqualTo(2));
            Assert.That(lora.FluxModuleCount, Is.EqualTo(1));
            Assert.That(lora.Modules.Single(m => m.Name.EndsWith("to_q", StringComparison.Ordinal)).IsFluxModule, Is.True);
            Assert.That(lora.Modules.Single(m => m.Name.EndsWith("fc1", StringComparison.Ordinal)).IsFluxModule, Is.False);
            Assert.That((lora.MinRank, lora.MaxRank, lora.MissingAlphaCount), Is.EqualTo((4, 8, 1)));
            Assert.That(lora.UnusedKeys, Is.EquivalentTo(new[] { "transformer.stray_tensor", "another_stray" }));
        });
    }

    [Test]
    public void BadFiles_AreNamedErrors()
    {
        string half = TempPath("half.safetensors"), ranks = TempPath("ranks.safetensors"), nan = TempPath("nan.safetensors");
        string ints = TempPath("ints.safetensors"), none = TempPath("none.safetensors");
        using (var writer = new SafeTensorsWriter())
        {
            writer.AddTensor("transformer.transformer_blocks.0.attn.to_q.lora_A.weight", [4, Inner], new float[4 * Inner]);
            writer.Save(half);
        }

        Write(ranks, LoraKeyStyle.Diffusers, [new TestLoraModule("transformer.x_embedder", new float[4, 16], new float[Inner, 2])]);
        var bad = new float[2, 16];
        bad[1, 7] = float.PositiveInfinity;
        Write(nan, LoraKeyStyle.Bfl, [new TestLoraModule("img_in", bad, new float[Inner, 2])]);
        using (var writer = new SafeTensorsWriter())
        {
            writer.AddTensor("img_in.lora_A.weight", TensorDType.I32, [2, 16], new byte[2 * 16 * 4]);
            writer.AddTensor("img_in.lora_B.weight", [Inner, 2], new float[Inner * 2]);
            writer.Save(ints);
        }

        using (var writer = new SafeTensorsWriter())
        {
            writer.AddTensor("x_embedder.weight", [Inner, 16], new float[Inner * 16]);
            writer.Save(none);
        }

        Assert.Multiple(() =>
        {
            AssertError(TempPath("missing.safetensors"), StatusCode.Io, "missing.safetensors");
            AssertError(half, StatusCode.Format, "transformer.transformer_blocks.0.attn.to_q");
            AssertError(ranks, StatusCode.ShapeMismatch, "transformer.x_embedder");
            AssertError(nan, StatusCode.NonFinite, "img_in");
            AssertError(ints, StatusCode.DType, "img_in.lora_A.weight");
            AssertError(none, StatusCode.Format, none);
        });
    }

    [Test]
    public void Dispose_IsIdempotent_AndTheFileCannotBeAddedAfterwards()
    {
        string path = TempPath("lora.safetensors");
        Write(path, LoraKeyStyle.Diffusers, TinyFluxLora.Modules(LoraKeyStyle.Diffusers));
        using var engine = new Engine();
        using FluxTransformer model = FluxTransformer.Load(engine, FluxTiny);
        LoraFile lora = LoraFile.Load(path);
        lora.Dispose();
        lora.Dispose();

        Assert.Throws<ObjectDisposedException>(() => model.Loras.Add(engine, lora));
        Assert.That(lora.Modules, Is.Not.Empty, "what was read stays readable");
    }

    private static void AssertError(string path, StatusCode status, string named)
    {
        var e = Assert.Throws<SvdQuantException>(() => LoraFile.Load(path).Dispose());
        Assert.That(e!.Status, Is.EqualTo(status), e.Message);
        Assert.That(e.Message, Does.Contain(named));
    }
}
