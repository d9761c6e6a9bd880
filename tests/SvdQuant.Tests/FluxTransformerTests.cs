using System;
using System.Collections.Generic;
using System.IO;
using NUnit.Framework;
using SvdQuant.Formats;
using SvdQuant.Models;

namespace SvdQuant.Tests;

/// <summary>The FLUX transformer through the managed API on the tiny reference model.</summary>
public sealed class FluxTransformerTests
{
    private static readonly string Model = Path.Combine(AppContext.BaseDirectory, "data", "flux-tiny");

    private Engine _engine = null!;

    [SetUp]
    public void StartEngine() => _engine = new Engine();

    [TearDown]
    public void StopEngine() => _engine.Dispose();

    [Test]
    public void FloatForward_MatchesDiffusers()
    {
        using FluxTransformer model = FluxTransformer.Load(_engine, Model);

        float[] output = model.Forward(_engine, ReadInputs());

        Assert.Multiple(() =>
        {
            Assert.That(MaxRelativeError(output, ReadExpected()), Is.LessThan(1e-4));
            Assert.That(model.Info.Layers, Is.EqualTo(2));
            Assert.That(model.Info.SingleLayers, Is.EqualTo(2));
            Assert.That(model.Info.GuidanceEmbeds, Is.True);
            Assert.That(model.Info.ParameterCount, Is.EqualTo(482_768));
            Assert.That(model.Info.WeightBytes, Is.EqualTo(482_768 * 4));
        });
    }

    [Test]
    public void QuantizedBlocks_StayCloseAndTakeLessMemory()
    {
        // Fp32 attention: the blocks' own error, the same at every CPU level.
        var options = new FluxLoadOptions { BlockScheme = LinearScheme.W4A4, AttentionPrecision = AttentionPrecision.Fp32 };
        using FluxTransformer model = FluxTransformer.Load(_engine, Model, options);

        double error = MaxRelativeError(model.Forward(_engine, ReadInputs()), ReadExpected());

        // max |y - y_diffusers| / max |y_diffusers|: measured 0.1208 for round-to-nearest W4A4 blocks on this
        // random-weight model (test_c_api_flux.cpp too); a dropped bias or branch-free layer error shows above 0.13.
        Assert.Multiple(() =>
        {
            Assert.That(error, Is.InRange(0.105, 0.13));
            Assert.That(model.Info.BlockScheme, Is.EqualTo(LinearScheme.W4A4));
            Assert.That(model.Info.WeightBytes, Is.LessThan(482_768 * 4 / 2));
        });
    }

    [TestCase(LinearScheme.Float, AttentionPrecision.Fp32)]
    [TestCase(LinearScheme.W4A16, AttentionPrecision.Bf16)]
    [TestCase(LinearScheme.W4A4, AttentionPrecision.Bf16)]
    public void AutoAttention_IsBf16ForFourBitBlocks(LinearScheme scheme, AttentionPrecision resolved)
    {
        using FluxTransformer auto = FluxTransformer.Load(_engine, Model, new FluxLoadOptions { BlockScheme = scheme });
        using FluxTransformer chosen = FluxTransformer.Load(
            _engine, Model, new FluxLoadOptions { BlockScheme = scheme, AttentionPrecision = resolved });
        AttentionPrecision other = resolved == AttentionPrecision.Bf16 ? AttentionPrecision.Fp32 : AttentionPrecision.Bf16;
        using FluxTransformer otherModel = FluxTransformer.Load(
            _engine, Model, new FluxLoadOptions { BlockScheme = scheme, AttentionPrecision = other });
        FluxInputs inputs = ReadInputs();

        float[] automatic = auto.Forward(_engine, inputs), otherOutput = otherModel.Forward(_engine, inputs);

        Assert.Multiple(() =>
        {
            Assert.That(auto.Info.AttentionPrecision, Is.EqualTo(resolved));
            Assert.That(otherModel.Info.AttentionPrecision, Is.EqualTo(other));
            Assert.That(automatic, Is.EqualTo(chosen.Forward(_engine, inputs)));
            // Only a CPU with BF16 dot products computes BF16 attention differently.
            if (_engine.CpuLevel == CpuLevel.Avx512Bf16)
            {
                Assert.That(automatic, Is.Not.EqualTo(otherOutput));
            }
            else
            {
                Assert.That(automatic, Is.EqualTo(otherOutput));
            }
        });
    }

    [Test]
    public void ShardedBf16Folder_EqualsTheSameValuesInF32()
    {
        // FLUX.1's published form: BF16 shards that an index.json maps, here flux-tiny's weights rounded to BF16.
        string root = Path.Combine(Path.GetTempPath(), $"svdq-flux-bf16-{Guid.NewGuid():N}");
        string sharded = Path.Combine(root, "bf16"), single = Path.Combine(root, "f32");
        try
        {
            WriteRoundedFolders(sharded, single, shards: 2);
            using FluxTransformer bf16 = FluxTransformer.Load(_engine, sharded);
            using FluxTransformer f32 = FluxTransformer.Load(_engine, single);
            FluxInputs inputs = ReadInputs();
            float[] output = bf16.Forward(_engine, inputs);
            double error = MaxRelativeError(output, ReadExpected());
            TestContext.Out.WriteLine($"BF16 flux-tiny vs diffusers' F32 output: max rel error {error:0.00e0}");

            Assert.Multiple(() =>
            {
                Assert.That(output, Is.EqualTo(f32.Forward(_engine, inputs)), "bit for bit");
                Assert.That(bf16.Info.ParameterCount, Is.EqualTo(482_768));
                // Measured 2.62e-3: BF16 rounding (2^-9 relative per weight) carried through 4 blocks; see test_flux_diffusers_folder.cpp.
                Assert.That(error, Is.InRange(1e-3, 2.85e-3));
            });
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static void WriteRoundedFolders(string sharded, string single, int shards)
    {
        Directory.CreateDirectory(sharded);
        Directory.CreateDirectory(single);
        File.Copy(Path.Combine(Model, "config.json"), Path.Combine(sharded, "config.json"));
        File.Copy(Path.Combine(Model, "config.json"), Path.Combine(single, "config.json"));
        using SafeTensorsFile original = SafeTensorsFile.Open(Path.Combine(Model, "diffusion_pytorch_model.safetensors"));
        var writers = new SafeTensorsWriter[shards];
        using var f32 = new SafeTensorsWriter();
        var weightMap = new List<string>();
        try
        {
            for (int s = 0; s < shards; s++)
            {
                writers[s] = new SafeTensorsWriter();
            }

            for (int i = 0; i < original.Tensors.Count; i++)
            {
                TensorInfo t = original.Tensors[i];
                int shard = i * shards / original.Tensors.Count;
                float[] values = original.ReadFloats(t.Name);
                var bf16 = new byte[values.Length * 2];
                for (int j = 0; j < values.Length; j++)
                {
                    ushort h = ToBf16(values[j]);
                    values[j] = BitConverter.Int32BitsToSingle(h << 16);
                    bf16[2 * j] = (byte)h;
                    bf16[2 * j + 1] = (byte)(h >> 8);
                }

                long[] shape = [.. t.Shape];
                writers[shard].AddTensor(t.Name, TensorDType.BF16, shape, bf16);
                f32.AddTensor(t.Name, shape, values);
                weightMap.Add($"\"{t.Name}\": \"{ShardName(shard + 1, shards)}\"");
            }

            for (int s = 0; s < shards; s++)
            {
                writers[s].Save(Path.Combine(sharded, ShardName(s + 1, shards)));
            }
        }
        finally
        {
            foreach (SafeTensorsWriter? w in writers)
            {
                w?.Dispose();
            }
        }

        File.WriteAllText(Path.Combine(sharded, "diffusion_pytorch_model.safetensors.index.json"),
            "{\"metadata\": {}, \"weight_map\": {" + string.Join(", ", weightMap) + "}}");
        f32.Save(Path.Combine(single, "diffusion_pytorch_model.safetensors"));
    }

    private static string ShardName(int index, int count) => $"diffusion_pytorch_model-{index:D5}-of-{count:D5}.safetensors";

    // Round to nearest even, as torch's .to(torch.bfloat16) (no NaNs in these weights).
    private static ushort ToBf16(float value)
    {
        int bits = BitConverter.SingleToInt32Bits(value);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    [Test]
    public void MissingGuidance_IsANamedError()
    {
        using FluxTransformer model = FluxTransformer.Load(_engine, Model);
        FluxInputs inputs = ReadInputs();
        var withoutGuidance = new FluxInputs
        {
            Batch = inputs.Batch, ImageTokens = inputs.ImageTokens, TextTokens = inputs.TextTokens,
            HiddenStates = inputs.HiddenStates, EncoderHiddenStates = inputs.EncoderHiddenStates,
            PooledProjections = inputs.PooledProjections, Timestep = inputs.Timestep,
            ImageIds = inputs.ImageIds, TextIds = inputs.TextIds,
        };

        var e = Assert.Throws<SvdQuantException>(() => model.Forward(_engine, withoutGuidance));
        Assert.That(e!.Message, Does.Contain("guidance"));
    }

    [Test]
    public void MissingFolder_IsAnIoError()
    {
        var e = Assert.Throws<SvdQuantException>(() => FluxTransformer.Load(_engine, "/nonexistent/flux"));
        Assert.Multiple(() =>
        {
            Assert.That(e!.Status, Is.EqualTo(StatusCode.Io));
            Assert.That(e.Message, Does.Contain("/nonexistent/flux"));
        });
    }

    [Test]
    public void UseAfterDispose_Throws()
    {
        FluxTransformer model = FluxTransformer.Load(_engine, Model);
        model.Dispose();
        model.Dispose();

        Assert.Throws<ObjectDisposedException>(() => model.Forward(_engine, ReadInputs()));
    }

    internal static FluxInputs ReadInputs()
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(Path.Combine(Model, "inputs.safetensors"));
        return new FluxInputs
        {
            Batch = 2,
            ImageTokens = 16,
            TextTokens = 8,
            HiddenStates = file.ReadFloats("hidden_states"),
            EncoderHiddenStates = file.ReadFloats("encoder_hidden_states"),
            PooledProjections = file.ReadFloats("pooled_projections"),
            Timestep = file.ReadFloats("timestep"),
            Guidance = file.ReadFloats("guidance"),
            ImageIds = file.ReadFloats("img_ids"),
            TextIds = file.ReadFloats("txt_ids"),
        };
    }

    private static float[] ReadExpected()
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(Path.Combine(Model, "expected.safetensors"));
        return file.ReadFloats("output");
    }

    private static double MaxRelativeError(float[] actual, float[] expected)
    {
        double diff = 0, scale = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs(actual[i] - expected[i]));
            scale = Math.Max(scale, Math.Abs(expected[i]));
        }

        return diff / scale;
    }
}
