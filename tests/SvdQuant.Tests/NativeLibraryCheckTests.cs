using NUnit.Framework;
using SvdQuant.Native;

namespace SvdQuant.Tests;

/// <summary>A native library from another release is refused at load, naming both versions.</summary>
public sealed class NativeLibraryCheckTests
{
    private const string Library = "The native library /app/libsvdquant.so";

    [Test]
    public void TheLoadedLibrary_IsThisRelease()
    {
        Assert.That(Engine.Version, Is.EqualTo(NativeLibraryCheck.ManagedVersion));
        Assert.That(Engine.AbiVersion, Is.EqualTo((int)svdq_constants.SVDQ_ABI_VERSION));
    }

    [Test]
    public void SameVersionAndAbi_IsAccepted() =>
        Assert.That(NativeLibraryCheck.Mismatch("1.2.3", 5, "1.2.3", 5, Library), Is.Null);

    [Test]
    public void AnotherVersion_IsRefused_NamingBothVersionsAndThePath()
    {
        string? message = NativeLibraryCheck.Mismatch("1.2.4", 5, "1.2.3", 5, Library);

        Assert.That(message, Does.StartWith(Library));
        Assert.That(message, Does.Contain("SvdQuant engine 1.2.4").And.Contain("SvdQuant.Interop is 1.2.3"));
    }

    [Test]
    public void SameVersion_ButAnotherAbi_IsRefused_NamingBothAbis()
    {
        string? message = NativeLibraryCheck.Mismatch("1.2.3", 4, "1.2.3", 5, Library);

        Assert.That(message, Does.Contain("ABI version 4").And.Contain("ABI version 5"));
    }
}
