using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using NUnit.Framework;
using SvdQuant.Models;
using SvdQuant.Formats;

namespace SvdQuant.Tests;

/// <summary>
/// Checkpoint files through the managed API: a write/read round trip over the C API,
/// flavour detection, and bad files as <see cref="SvdQuantException"/> naming the file and tensor.
/// </summary>
public sealed class SafeTensorsFileTests
{
    private string _directory = null!;

    [SetUp]
    public void CreateDirectory() =>
        _directory = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "svdq-tests-" + Guid.NewGuid().ToString("N"))).FullName;

    [TearDown]
    public void DeleteDirectory() => Directory.Delete(_directory, recursive: true);

    [Test]
    public void WrittenFile_ReadsBackTensorsMetadataAndValues()
    {
        string path = Path.Combine(_directory, "model.safetensors");
        float[] weight = [1, -2, 3.5f, 4, 5, 6];
        using (var writer = new SafeTensorsWriter())
        {
            writer.AddTensor("layer.weight", [2, 3], weight);
            writer.AddTensor("layer.bias", TensorDType.BF16, [2], new byte[] { 0xc0, 0x3f, 0x00, 0xc0 }); // 1.5, -2
            writer.AddTensor("layer.qweight", TensorDType.I8, [2, 2], new byte[] { 1, 2, 3, 4 });
            writer.SetMetadata("config", "{\"num_layers\": 1}");
            writer.Save(path);
        }

        using SafeTensorsFile file = SafeTensorsFile.Open(path);

        Assert.Multiple(() =>
        {
            Assert.That(file.Tensors.Select(t => t.Name), Is.EqualTo(new[] { "layer.bias", "layer.qweight", "layer.weight" }));
            Assert.That(file.Metadata, Is.EqualTo(new Dictionary<string, string> { ["config"] = "{\"num_layers\": 1}" }));
            Assert.That(file.FileSize, Is.EqualTo(new FileInfo(path).Length));
            TensorInfo w = file.GetTensor("layer.weight");
            Assert.That(w.DType, Is.EqualTo(TensorDType.F32));
            Assert.That(w.Shape, Is.EqualTo(new long[] { 2, 3 }));
            Assert.That(w.ByteSize, Is.EqualTo(24));
            Assert.That(w.ElementCount, Is.EqualTo(6));
            Assert.That(file.ReadFloats("layer.weight"), Is.EqualTo(weight));
            Assert.That(MemoryMarshal.Cast<byte, float>(file.GetData("layer.weight")).ToArray(), Is.EqualTo(weight));
            Assert.That(file.ReadFloats("layer.bias"), Is.EqualTo(new[] { 1.5f, -2f }));
            Assert.That(file.GetData("layer.qweight").ToArray(), Is.EqualTo(new byte[] { 1, 2, 3, 4 }));
            Assert.That(file.TryGetTensor("absent", out _), Is.False);
        });
    }

    [Test]
    public void StreamWriter_WritesWhatTheWriterSaves_FinishesOnce_AndLeavesNoFileUnfinished()
    {
        float[] weight = [1, -2, 3.5f, 4, 5, 6];
        string saved = WriteFile("saved", w =>
        {
            w.AddTensor("layer.weight", [2, 3], weight);
            w.AddTensor("layer.qweight", TensorDType.I8, [2, 2], new byte[] { 1, 2, 3, 4 });
            w.SetMetadata("config", "{}");
        });
        string streamed = Path.Combine(_directory, "streamed.safetensors");
        using (var writer = new SafeTensorsStreamWriter(streamed))
        {
            writer.AddTensor("layer.qweight", TensorDType.I8, [2, 2], new byte[] { 1, 2, 3, 4 });
            writer.SetMetadata("config", "{}");
            writer.AddTensor("layer.weight", TensorDType.F32, [2, 3], MemoryMarshal.AsBytes(weight.AsSpan()));
            Assert.That(
                Assert.Throws<SvdQuantException>(() => writer.AddTensor("short", TensorDType.F32, [2], new byte[4]))!.Status,
                Is.EqualTo(StatusCode.ShapeMismatch));
            writer.Finish();
            Assert.That(Assert.Throws<SvdQuantException>(writer.Finish)!.Status, Is.EqualTo(StatusCode.InvalidArgument));
        }

        string dropped = Path.Combine(_directory, "dropped.safetensors");
        using (var writer = new SafeTensorsStreamWriter(dropped))
        {
            writer.AddTensor("x", TensorDType.U8, [1], new byte[] { 7 });
        }

        Assert.Multiple(() =>
        {
            Assert.That(File.ReadAllBytes(streamed), Is.EqualTo(File.ReadAllBytes(saved)));
            Assert.That(Directory.GetFiles(_directory).Select(Path.GetFileName), Is.EquivalentTo(new[] { "saved.safetensors", "streamed.safetensors" }));
        });
    }

    [Test]
    public void CopyData_CopiesTheBytesIntoAnExactlySizedBuffer()
    {
        string path = WriteFile("copy", w => w.AddTensor("x", TensorDType.U8, [3], new byte[] { 7, 8, 9 }));
        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        var copy = new byte[3];

        file.CopyData("x", copy);

        Assert.That(copy, Is.EqualTo(new byte[] { 7, 8, 9 }));
        Assert.Throws<ArgumentException>(() => file.CopyData("x", new byte[2]));
    }

    [Test]
    public void PathWithNonAsciiCharacters_Opens()
    {
        string path = WriteFile("модель-模型", w => w.AddTensor("x", [1], [1f]));

        using SafeTensorsFile file = SafeTensorsFile.Open(path);

        Assert.That(file.Path, Is.EqualTo(path));
    }

    [Test]
    public void ReadFloats_OfAnIntegerTensor_IsADTypeErrorNamingIt()
    {
        string path = WriteFile("ints", w => w.AddTensor("ids", TensorDType.I32, [1], new byte[4]));
        using SafeTensorsFile file = SafeTensorsFile.Open(path);

        var e = Assert.Throws<SvdQuantException>(() => file.ReadFloats("ids"));

        Assert.That(e.Status, Is.EqualTo(StatusCode.DType));
        Assert.That(e.Message, Does.Contain(path).And.Contain("'ids'"));
    }

    [Test]
    public void MissingTensor_IsAKeyNotFoundNamingFileAndTensor()
    {
        string path = WriteFile("one", w => w.AddTensor("x", [1], [1f]));
        using SafeTensorsFile file = SafeTensorsFile.Open(path);

        var e = Assert.Throws<KeyNotFoundException>(() => file.GetTensor("y"));

        Assert.That(e.Message, Does.Contain(path).And.Contain("'y'"));
    }

    [Test]
    public void DisposedFile_RefusesToHandOutData()
    {
        string path = WriteFile("disposed", w => w.AddTensor("x", [1], [1f]));
        SafeTensorsFile file = SafeTensorsFile.Open(path);
        file.Dispose();

        Assert.Throws<ObjectDisposedException>(() => file.GetData("x"));
        Assert.DoesNotThrow(file.Dispose);
    }

    [Test]
    public void MissingFile_IsAnIoError()
    {
        string path = Path.Combine(_directory, "absent.safetensors");

        var e = Assert.Throws<SvdQuantException>(() => SafeTensorsFile.Open(path));

        Assert.That(e.Status, Is.EqualTo(StatusCode.Io));
        Assert.That(e.Message, Does.Contain(path));
    }

    [Test]
    public void TruncatedFile_IsAFormatErrorNamingTheTensor()
    {
        string path = WriteFile("truncated", w => w.AddTensor("big", [256], new float[256]));
        using (var stream = new FileStream(path, FileMode.Open))
        {
            stream.SetLength(stream.Length - 100);
        }

        var e = Assert.Throws<SvdQuantException>(() => SafeTensorsFile.Open(path));

        Assert.That(e.Status, Is.EqualTo(StatusCode.Format));
        Assert.That(e.Message, Does.Contain(path).And.Contain("'big'").And.Contain("truncated"));
    }

    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, StatusCode.Format, "overlap tensor 'a'", TestName = "Overlapping offsets")]
    [TestCase("{\"w\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, StatusCode.DType, "unknown dtype 'Q4'", TestName = "Unknown dtype")]
    [TestCase("{\"w\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,4]}}", 4, StatusCode.Format, "needs 6", TestName = "Shape and size disagree")]
    [TestCase("{\"w\": [", 0, StatusCode.Format, "not valid JSON", TestName = "Header not JSON")]
    public void BadHeader_IsRejectedWithTheTensorNamed(string header, int dataBytes, StatusCode status, string needle)
    {
        string path = WriteRaw("bad", (ulong)Encoding.UTF8.GetByteCount(header), header, dataBytes);

        var e = Assert.Throws<SvdQuantException>(() => SafeTensorsFile.Open(path));

        Assert.That(e.Status, Is.EqualTo(status));
        Assert.That(e.Message, Does.Contain(path).And.Contain(needle));
    }

    [Test]
    public void HeaderLengthPastTheEnd_IsAFormatError()
    {
        string path = WriteRaw("length", 1 << 20, "{}", 0);

        var e = Assert.Throws<SvdQuantException>(() => SafeTensorsFile.Open(path));

        Assert.That(e.Status, Is.EqualTo(StatusCode.Format));
        Assert.That(e.Message, Does.Contain("runs past the end of the file"));
    }

    [Test]
    public void DiffusersCheckpoint_IsDetected()
    {
        string path = WriteFile("diffusers", w =>
        {
            w.AddTensor("x_embedder.weight", [2, 2], new float[4]);
            w.AddTensor("transformer_blocks.0.attn.to_q.weight", [2, 2], new float[4]);
        });
        using SafeTensorsFile file = SafeTensorsFile.Open(path);

        CheckpointInfo info = file.DetectFlavour();

        Assert.That(info.Flavour, Is.EqualTo(CheckpointFlavour.DiffusersFloat));
        Assert.That(info.Format, Is.EqualTo(NumberFormat.Float));
        Assert.That(info.ParameterCount, Is.EqualTo(8));
    }

    [Test]
    public void NunchakuInt4Layer_IsDetectedWithItsRank()
    {
        string path = WriteFile("nunchaku", w => AddNunchakuLayer(w, "transformer_blocks.0.qkv_proj", withScales: true));
        using SafeTensorsFile file = SafeTensorsFile.Open(path);

        CheckpointInfo info = file.DetectFlavour();

        Assert.That(info.Flavour, Is.EqualTo(CheckpointFlavour.NunchakuInt4V0));
        Assert.That(info.Keys, Is.EqualTo(CheckpointKeys.NunchakuV0));
        Assert.That(info.W4A4Layers, Is.EqualTo(1));
        Assert.That(info.Rank, Is.EqualTo(16));
        Assert.That(info.ParameterCount, Is.EqualTo((128 * 128) + (2 * 128) + 128 + (2 * 128 * 16)));
    }

    [Test]
    public void NunchakuLayerWithoutScales_IsAFormatErrorNamingTheMissingTensor()
    {
        string path = WriteFile("noscales", w => AddNunchakuLayer(w, "transformer_blocks.0.qkv_proj", withScales: false));
        using SafeTensorsFile file = SafeTensorsFile.Open(path);

        var e = Assert.Throws<SvdQuantException>(() => file.DetectFlavour());

        Assert.That(e.Status, Is.EqualTo(StatusCode.Format));
        Assert.That(e.Message, Does.Contain(path).And.Contain("'transformer_blocks.0.qkv_proj.wscales' is missing"));
    }

    // The tensors of a Nunchaku INT4 layer, N = K = 128, rank 16 (values do not matter here).
    private static void AddNunchakuLayer(SafeTensorsWriter w, string prefix, bool withScales)
    {
        w.AddTensor(prefix + ".qweight", TensorDType.I8, [128, 64], new byte[128 * 64]);
        if (withScales)
        {
            w.AddTensor(prefix + ".wscales", TensorDType.BF16, [2, 128], new byte[2 * 128 * 2]);
        }

        w.AddTensor(prefix + ".smooth", TensorDType.BF16, [128], new byte[128 * 2]);
        w.AddTensor(prefix + ".lora_down", TensorDType.BF16, [128, 16], new byte[128 * 16 * 2]);
        w.AddTensor(prefix + ".lora_up", TensorDType.BF16, [128, 16], new byte[128 * 16 * 2]);
    }

    private string WriteFile(string name, Action<SafeTensorsWriter> fill)
    {
        string path = Path.Combine(_directory, name + ".safetensors");
        using var writer = new SafeTensorsWriter();
        fill(writer);
        writer.Save(path);
        return path;
    }

    // A file of a declared header length, a header and zero bytes of data, consistent or not.
    private string WriteRaw(string name, ulong declaredLength, string header, int dataBytes)
    {
        string path = Path.Combine(_directory, name + ".safetensors");
        using var stream = new FileStream(path, FileMode.Create);
        stream.Write(BitConverter.GetBytes(declaredLength));
        stream.Write(Encoding.UTF8.GetBytes(header));
        stream.Write(new byte[dataBytes]);
        return path;
    }
}
