using System.IO;
using NUnit.Framework;

namespace SvdQuant.Tests;

/// <summary>`svdquant inspect` in a child process: a good checkpoint, and files it must reject.</summary>
public sealed class CliInspectTests : CliFixture
{
    [Test]
    public void DiffusersWeights_ShowTheirFlavourAndTensors()
    {
        CliResult result = Run("inspect", Path.Combine(FluxTiny, "diffusion_pytorch_model.safetensors"));

        AssertSucceeded(result);
        Assert.That(result.Output, Does.Contain("diffusers FLUX, float weights").And.Contain("112 tensors"));
    }

    [Test]
    public void MissingFile_Exits2_NamingIt()
    {
        string path = TempPath("absent.safetensors");

        AssertRejected(Run("inspect", path), path, "cannot open");
    }

    [Test]
    public void TruncatedFile_Exits2_NamingIt()
    {
        string path = TempPath("truncated.safetensors");
        byte[] whole = File.ReadAllBytes(Path.Combine(FluxTiny, "inputs.safetensors"));
        File.WriteAllBytes(path, whole[..(whole.Length / 2)]);

        AssertRejected(Run("inspect", path), path, "truncated");
    }

    [Test]
    public void Junk_Exits2_NamingIt()
    {
        string path = TempPath("junk.safetensors");
        File.WriteAllText(path, "this is not a safetensors file, only some text that is long enough");

        AssertRejected(Run("inspect", path), path, "not safetensors");
    }
}
