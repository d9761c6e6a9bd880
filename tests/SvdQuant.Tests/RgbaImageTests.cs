using System;
using System.IO;
using System.Linq;
using NUnit.Framework;
using SvdQuant.Generation;

namespace SvdQuant.Tests;

/// <summary>
/// <see cref="RgbaImage"/>: SavePng then LoadPng gives back every byte (alpha included), the PNG checked by
/// <see cref="PngReader"/> too; PNGs without alpha load with alpha 255; a file that is not a PNG, a corrupt
/// one and a missing one are named.
/// </summary>
public sealed class RgbaImageTests
{
    private string _dir = null!;

    [SetUp]
    public void CreateFolder() => _dir = Directory.CreateTempSubdirectory("svdq-rgba-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void SavePngThenLoadPng_GivesBackEveryByte()
    {
        var rgba = new byte[13 * 7 * 4];
        new Random(3).NextBytes(rgba);
        var image = new RgbaImage(13, 7, rgba);
        string path = Path.Combine(_dir, "image.png");

        image.SavePng(path);
        RgbaImage loaded = RgbaImage.LoadPng(path);

        Assert.That((loaded.Width, loaded.Height), Is.EqualTo((13, 7)));
        Assert.That(loaded.Rgba, Is.EqualTo(rgba));
        Assert.That(PngReader.Read(path).Rgba, Is.EqualTo(rgba), "an independent decoder reads the same pixels");
    }

    [Test]
    public void APngWithoutAlpha_LoadsOpaque()
    {
        var rgb = new byte[5 * 4 * 3];
        new Random(4).NextBytes(rgb);
        string path = Path.Combine(_dir, "rgb.png");
        using (FileStream file = File.Create(path))
        {
            new StbImageWriteSharp.ImageWriter().WritePng(rgb, 5, 4, StbImageWriteSharp.ColorComponents.RedGreenBlue, file);
        }

        RgbaImage loaded = RgbaImage.LoadPng(path);

        Assert.That((loaded.Width, loaded.Height), Is.EqualTo((5, 4)));
        for (int p = 0; p < 20; p++)
        {
            Assert.That(loaded.Rgba.Skip(p * 4).Take(4), Is.EqualTo(rgb.Skip(p * 3).Take(3).Append((byte)255)), $"pixel {p}");
        }
    }

    [Test]
    public void BadFiles_AreNamed()
    {
        var image = new RgbaImage(8, 8, new byte[8 * 8 * 4]);
        string good = Path.Combine(_dir, "good.png"), truncated = Path.Combine(_dir, "truncated.png"), text = Path.Combine(_dir, "text.png");
        image.SavePng(good);
        byte[] bytes = File.ReadAllBytes(good);
        File.WriteAllBytes(truncated, bytes.Take(40).ToArray());
        File.WriteAllText(text, "not an image at all");

        Assert.Multiple(() =>
        {
            Assert.That(() => RgbaImage.LoadPng(truncated), Throws.TypeOf<SvdQuantException>().With.Message.Contains("truncated.png").And.Message.Contains("corrupt")
                .And.Property(nameof(SvdQuantException.Status)).EqualTo(StatusCode.Format));
            Assert.That(() => RgbaImage.LoadPng(text), Throws.TypeOf<SvdQuantException>().With.Message.Contains("text.png").And.Message.Contains("not a PNG")
                .And.Property(nameof(SvdQuantException.Status)).EqualTo(StatusCode.Format));
            Assert.That(() => RgbaImage.LoadPng(Path.Combine(_dir, "missing.png")), Throws.TypeOf<SvdQuantException>().With.Message.Contains("missing.png")
                .And.Property(nameof(SvdQuantException.Status)).EqualTo(StatusCode.Io));
            Assert.That(() => new RgbaImage(8, 8, new byte[255]), Throws.ArgumentException.With.Message.Contains("256"));
        });
    }
}
