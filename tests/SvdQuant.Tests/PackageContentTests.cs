using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using NUnit.Framework;

namespace SvdQuant.Tests;

/// <summary>
/// The package carries an assembly per target, and the net8.0 one (what .NET 8 and 9 apps bind) has the
/// native library resolver, which the netstandard2.1 one (Unity) leaves out. Reads the built package
/// named by SVDQ_PACKAGE_SOURCE, as <see cref="PackageSmokeTests"/> does; checks metadata only, loads nothing.
/// </summary>
public sealed class PackageContentTests
{
    private const string Assembly = "SvdQuant.Interop.dll";

    [Test]
    public void Package_HasAnAssemblyPerTarget_AndNet8HasTheResolver()
    {
        string? source = Environment.GetEnvironmentVariable("SVDQ_PACKAGE_SOURCE");
        if (string.IsNullOrEmpty(source))
        {
            Assert.Ignore("set SVDQ_PACKAGE_SOURCE (./build.sh test does) to run");
        }

        string informational = typeof(Engine).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        string version = informational.Split('+')[0];
        using ZipArchive package = ZipFile.OpenRead(Path.Combine(source!, $"SvdQuant.Interop.{version}.nupkg"));

        Assert.That(package.Entries.Select(e => e.FullName).Where(n => n.StartsWith("lib/", StringComparison.Ordinal) && n.EndsWith(".dll", StringComparison.Ordinal)),
            Is.EquivalentTo(new[] { $"lib/netstandard2.1/{Assembly}", $"lib/net8.0/{Assembly}", $"lib/net10.0/{Assembly}" }));
        Assert.Multiple(() =>
        {
            Assert.That(Describe(package, "net8.0"), Is.EqualTo((".NETCoreApp,Version=v8.0", true)));
            Assert.That(Describe(package, "net10.0"), Is.EqualTo((".NETCoreApp,Version=v10.0", true)));
            Assert.That(Describe(package, "netstandard2.1"), Is.EqualTo((".NETStandard,Version=v2.1", false)));
        });
    }

    /// <summary>The assembly's TargetFrameworkAttribute and whether it defines SvdQuant.Native.NativeLibraryResolver.</summary>
    private static (string Framework, bool HasResolver) Describe(ZipArchive package, string folder)
    {
        using var bytes = new MemoryStream();
        using (Stream entry = package.GetEntry($"lib/{folder}/{Assembly}")!.Open())
        {
            entry.CopyTo(bytes);
        }

        bytes.Position = 0;
        using var pe = new PEReader(bytes);
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
