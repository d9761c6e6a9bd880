using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Xml.Linq;
using NUnit.Framework;

namespace SvdQuant.Tests;

/// <summary>
/// What the packages carry: an assembly per target, the net8.0 one (what .NET 8 and 9 apps bind) with the
/// native library resolver, which the netstandard2.1 one (Unity) leaves out; the engine for linux-x64 and
/// win-x64 but no CUDA code; README, license, symbols and deterministic assemblies; and the CUDA runtime
/// package with the CUDA library alone. Reads the packages in SVDQ_PACKAGE_SOURCE, as
/// <see cref="PackageSmokeTests"/> does; checks metadata only, loads nothing.
/// </summary>
public sealed class PackageContentTests
{
    private const string Assembly = "SvdQuant.Interop.dll";
    private static readonly string[] Targets = ["netstandard2.1", "net8.0", "net10.0"];

    [Test]
    public void Package_HasAnAssemblyPerTarget_AndNet8HasTheResolver()
    {
        using ZipArchive package = OpenPackage("SvdQuant.Interop", "nupkg");

        Assert.That(package.Entries.Select(e => e.FullName).Where(n => n.StartsWith("lib/", StringComparison.Ordinal) && n.EndsWith(".dll", StringComparison.Ordinal)),
            Is.EquivalentTo(new[] { $"lib/netstandard2.1/{Assembly}", $"lib/net8.0/{Assembly}", $"lib/net10.0/{Assembly}" }));
        Assert.Multiple(() =>
        {
            Assert.That(Describe(package, "net8.0"), Is.EqualTo((".NETCoreApp,Version=v8.0", true)));
            Assert.That(Describe(package, "net10.0"), Is.EqualTo((".NETCoreApp,Version=v10.0", true)));
            Assert.That(Describe(package, "netstandard2.1"), Is.EqualTo((".NETStandard,Version=v2.1", false)));
        });
    }

    [Test]
    public void Package_CarriesTheEngineForLinuxAndWindows_AndNoCudaCode()
    {
        using ZipArchive package = OpenPackage("SvdQuant.Interop", "nupkg");
        string[] natives = package.Entries.Select(e => e.FullName).Where(n => n.StartsWith("runtimes/", StringComparison.Ordinal)).ToArray();

        Assert.That(natives, Is.EquivalentTo(new[] { "runtimes/linux-x64/native/libsvdquant.so", "runtimes/win-x64/native/svdquant.dll" }));
        byte[] dll = Read(package, "runtimes/win-x64/native/svdquant.dll");
        using var pe = new PEReader(new MemoryStream(dll));
        Assert.Multiple(() =>
        {
            Assert.That(pe.PEHeaders.CoffHeader.Machine, Is.EqualTo(Machine.Amd64), "a 64-bit x86 Windows DLL");
            Assert.That(pe.PEHeaders.IsDll, Is.True);
            Assert.That(Read(package, "runtimes/linux-x64/native/libsvdquant.so").Take(4), Is.EqualTo(new byte[] { 0x7F, (byte)'E', (byte)'L', (byte)'F' }));
        });
    }

    [Test]
    public void Package_HasReadmeLicenseAndRepository_AndDeterministicAssembliesWithSymbols()
    {
        using ZipArchive package = OpenPackage("SvdQuant.Interop", "nupkg");
        using ZipArchive symbols = OpenPackage("SvdQuant.Interop", "snupkg");
        XElement metadata = Nuspec(package);

        Assert.Multiple(() =>
        {
            Assert.That(Element(metadata, "readme")?.Value, Is.EqualTo("README.md"));
            Assert.That(Read(package, "README.md"), Is.Not.Empty);
            Assert.That(Element(metadata, "license")?.Value, Is.EqualTo("MIT"));
            Assert.That(Element(metadata, "license")?.Attribute("type")?.Value, Is.EqualTo("expression"));
            Assert.That(Element(metadata, "repository")?.Attribute("commit")?.Value, Does.Match("^[0-9a-f]{40}$"), "SourceLink's commit");
            foreach (string target in Targets)
            {
                Assert.That(package.GetEntry($"lib/{target}/SvdQuant.Interop.xml"), Is.Not.Null, $"{target} XML docs");
                using var pe = new PEReader(new MemoryStream(Read(package, $"lib/{target}/{Assembly}")));
                Assert.That(pe.ReadDebugDirectory().Select(d => d.Type), Has.Member(DebugDirectoryEntryType.Reproducible), $"{target}: deterministic");
                Assert.That(symbols.GetEntry($"lib/{target}/SvdQuant.Interop.pdb"), Is.Not.Null, $"{target} symbols");
            }
        });
    }

    [Test]
    public void CudaRuntimePackage_CarriesTheCudaLibraryAlone_AndDependsOnThisRelease()
    {
        string source = Source();
        string version = Version();
        if (!File.Exists(Path.Combine(source, $"SvdQuant.Interop.Runtime.Cuda.{version}.nupkg")))
        {
            Assert.Ignore("no SvdQuant.Interop.Runtime.Cuda package: this build made no CUDA backend");
        }

        using ZipArchive package = OpenPackage("SvdQuant.Interop.Runtime.Cuda", "nupkg");
        XElement metadata = Nuspec(package);

        Assert.That(package.Entries.Select(e => e.FullName).Where(n => n.StartsWith("runtimes/", StringComparison.Ordinal) || n.StartsWith("lib/", StringComparison.Ordinal)),
            Is.EqualTo(new[] { "runtimes/linux-x64/native/libsvdquant_cuda.so" }));
        Assert.That(metadata.Descendants().Where(e => e.Name.LocalName == "dependency").Select(e => (e.Attribute("id")?.Value, e.Attribute("version")?.Value)),
            Is.EqualTo(new[] { ("SvdQuant.Interop", $"[{version}]") }), "exactly this release");
        Assert.That(Element(metadata, "readme")?.Value, Is.EqualTo("README.md"));
    }

    private static string Source()
    {
        string? source = Environment.GetEnvironmentVariable("SVDQ_PACKAGE_SOURCE");
        if (string.IsNullOrEmpty(source))
        {
            Assert.Ignore("set SVDQ_PACKAGE_SOURCE (./build.sh test does) to run");
        }

        return source!;
    }

    private static string Version() =>
        typeof(Engine).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];

    private static ZipArchive OpenPackage(string id, string extension) =>
        ZipFile.OpenRead(Path.Combine(Source(), $"{id}.{Version()}.{extension}"));

    private static byte[] Read(ZipArchive package, string entry)
    {
        using var bytes = new MemoryStream();
        using (Stream stream = package.GetEntry(entry)!.Open())
        {
            stream.CopyTo(bytes);
        }

        return bytes.ToArray();
    }

    private static XElement Nuspec(ZipArchive package)
    {
        ZipArchiveEntry nuspec = package.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
        using Stream stream = nuspec.Open();
        return XDocument.Load(stream).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
    }

    private static XElement? Element(XElement metadata, string name) => metadata.Elements().SingleOrDefault(e => e.Name.LocalName == name);

    /// <summary>The assembly's TargetFrameworkAttribute and whether it defines SvdQuant.Native.NativeLibraryResolver.</summary>
    private static (string Framework, bool HasResolver) Describe(ZipArchive package, string folder)
    {
        using var pe = new PEReader(new MemoryStream(Read(package, $"lib/{folder}/{Assembly}")));
        MetadataReader metadata = pe.GetMetadataReader();
        bool hasResolver = metadata.TypeDefinitions.Select(metadata.GetTypeDefinition).Any(t =>
            metadata.GetString(t.Namespace) == "SvdQuant.Native" && metadata.GetString(t.Name) == "NativeLibraryResolver");
        string framework = metadata.GetAssemblyDefinition().GetCustomAttributes()
            .Select(metadata.GetCustomAttribute)
            .Where(a => AttributeTypeName(metadata, a) == "TargetFrameworkAttribute")
            .Select(a => a.DecodeValue(new StringArguments()).FixedArguments[0].Value as string)
            .Single()!;
        return (framework, hasResolver);
    }

    private static string AttributeTypeName(MetadataReader metadata, CustomAttribute attribute) =>
        attribute.Constructor.Kind == HandleKind.MemberReference
            ? metadata.GetString(metadata.GetTypeReference((TypeReferenceHandle)metadata.GetMemberReference((MemberReferenceHandle)attribute.Constructor).Parent).Name)
            : "";

    /// <summary>Decodes attribute arguments well enough for string ones (TargetFrameworkAttribute's).</summary>
    private sealed class StringArguments : ICustomAttributeTypeProvider<string>
    {
        public string GetPrimitiveType(PrimitiveTypeCode typeCode) => typeCode.ToString();
        public string GetSystemType() => "System.Type";
        public string GetSZArrayType(string elementType) => elementType + "[]";
        public string GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind) => "";
        public string GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => "";
        public string GetTypeFromSerializedName(string name) => name;
        public PrimitiveTypeCode GetUnderlyingEnumType(string type) => PrimitiveTypeCode.Int32;
        public bool IsSystemType(string type) => type == "System.Type";
    }
}
