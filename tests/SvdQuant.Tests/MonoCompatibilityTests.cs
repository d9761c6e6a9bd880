using System;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;
using NUnit.Framework;

namespace SvdQuant.Tests;

/// <summary>
/// The netstandard2.1 build (what Unity's Mono runs) calls no framework member with a <c>ref readonly</c> return or
/// another modreq(InAttribute) in its signature: Debian's Mono 6.8 corlib declares them without it (built with mcs), so
/// such a call throws MissingMethodException there (ReadOnlySpan&lt;T&gt;.GetPinnableReference, which a <c>fixed</c> over
/// a span compiles to, and the ReadOnlySpan indexer). Reads the IL of every method body. tests/mono/run.sh proves the
/// whole assembly under Mono itself.
/// </summary>
public sealed class MonoCompatibilityTests
{
    [Test]
    public void NetStandardBuild_CallsNoFrameworkMemberWithAnInAttributeModreq()
    {
        string path = typeof(MonoCompatibilityTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "SvdQuantNetStandard").Value!;
        Assert.That(path, Does.Exist, "the tests' build builds it (SvdQuant.Tests.csproj, BuildNetStandardProduct)");
        var context = new AssemblyLoadContext("netstandard2.1 product", isCollectible: true);
        try
        {
            // Its dependencies resolve from the tests' own (same names), which is enough to read it.
            Assembly product = context.LoadFromStream(new MemoryStream(File.ReadAllBytes(path)));
            Assert.That(product.GetCustomAttribute<System.Runtime.Versioning.TargetFrameworkAttribute>()!.FrameworkName,
                Is.EqualTo(".NETStandard,Version=v2.1"));

            var calls = IlInstructions.MethodsOf(product)
                .SelectMany(caller => IlInstructions.Of(caller)
                    .Select(i => i.Member)
                    .OfType<MethodBase>()
                    .Where(IsFrameworkMemberWithInModreq)
                    .Select(callee => $"{caller.DeclaringType!.Name}.{caller.Name} calls {callee.DeclaringType!.Name}.{callee.Name}"))
                .Distinct()
                .ToList();

            Assert.That(calls, Is.Empty, "members Debian's Mono 6.8 does not find; pin spans with Native.Pin, read them as arrays");
        }
        finally
        {
            context.Unload();
        }
    }

    [Test]
    public void TheRule_FindsTheMembersMonoLacks()
    {
        // What the scan keys on, checked where it is known: the members the old code called.
        Assert.Multiple(() =>
        {
            Assert.That(IsFrameworkMemberWithInModreq(typeof(ReadOnlySpan<float>).GetMethod("GetPinnableReference")!), Is.True);
            Assert.That(IsFrameworkMemberWithInModreq(typeof(ReadOnlySpan<long>).GetProperty("Item")!.GetMethod!), Is.True);
            Assert.That(IsFrameworkMemberWithInModreq(typeof(Span<float>).GetMethod("GetPinnableReference")!), Is.False);
            Assert.That(IsFrameworkMemberWithInModreq(typeof(MemoryMarshal).GetMethod("GetReference", [typeof(ReadOnlySpan<>).MakeGenericType(Type.MakeGenericMethodParameter(0))])!), Is.False);
        });
    }

    private static bool IsFrameworkMemberWithInModreq(MethodBase method)
    {
        if (method.DeclaringType?.Assembly != typeof(object).Assembly)
        {
            return false;
        }

        var parameters = method.GetParameters().AsEnumerable();
        if (method is MethodInfo info)
        {
            parameters = parameters.Append(info.ReturnParameter);
        }

        return parameters.Any(p => p.GetRequiredCustomModifiers().Contains(typeof(InAttribute)));
    }
}
