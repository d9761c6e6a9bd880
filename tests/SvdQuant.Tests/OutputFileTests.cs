using System;
using System.IO;
using NUnit.Framework;
using SvdQuant.Formats;

namespace SvdQuant.Tests;

/// <summary>OutputFile.EnsureWritable: what the engine would refuse to write, refused before any work, by name.</summary>
public sealed class OutputFileTests
{
    private string folder = string.Empty;

    [SetUp]
    public void CreateFolder() => folder = Directory.CreateTempSubdirectory("svdq-output-file-").FullName;

    [TearDown]
    public void RemoveFolder() => Directory.Delete(folder, recursive: true);

    [Test]
    public void ANewOrExistingFile_IsAcceptedAndLeftAsItWas()
    {
        string fresh = Path.Combine(folder, "new.png"), existing = Path.Combine(folder, "old.png");
        File.WriteAllText(existing, "keep");

        OutputFile.EnsureWritable(fresh);
        OutputFile.EnsureWritable(existing);

        Assert.Multiple(() =>
        {
            Assert.That(File.Exists(fresh), Is.False, "the check wrote nothing");
            Assert.That(File.ReadAllText(existing), Is.EqualTo("keep"));
            Assert.That(Directory.GetFiles(folder), Has.Length.EqualTo(1), "no temporary left");
        });
    }

    [Test]
    public void AMissingFolderOrADirectory_IsAnIoErrorNamingIt()
    {
        string missing = Path.Combine(folder, "missing");
        string sub = Directory.CreateDirectory(Path.Combine(folder, "sub")).FullName;

        var noFolder = Assert.Throws<SvdQuantException>(() => OutputFile.EnsureWritable(Path.Combine(missing, "out.png")))!;
        var directory = Assert.Throws<SvdQuantException>(() => OutputFile.EnsureWritable(sub))!;

        Assert.Multiple(() =>
        {
            Assert.That(noFolder.Status, Is.EqualTo(StatusCode.Io));
            Assert.That(noFolder.Message, Does.Contain($"the folder {missing} does not exist"));
            Assert.That(directory.Status, Is.EqualTo(StatusCode.Io));
            Assert.That(directory.Message, Does.Contain(sub).And.Contain("not a regular file"));
            Assert.That(() => OutputFile.EnsureWritable(null!), Throws.ArgumentNullException);
        });
    }
}
