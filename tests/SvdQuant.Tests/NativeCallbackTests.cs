using System;
using System.Linq;
using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.InteropServices;
using NUnit.Framework;
using SvdQuant.Native;

namespace SvdQuant.Tests;

/// <summary>
/// IL2CPP (Unity) can make a function pointer for a managed method only when that method carries an attribute
/// named AOT.MonoPInvokeCallbackAttribute naming its delegate type. Finds every method the product turns into a
/// native callback by reading its IL, so a new callback without the attribute fails here.
/// </summary>
public sealed class NativeCallbackTests
{
    private static readonly Assembly Product = typeof(Engine).Assembly;

    [Test]
    public void EveryNativeCallback_HasMonoPInvokeCallbackWithItsDelegateType()
    {
        var callbacks = IlInstructions.MethodsOf(Product).SelectMany(NativeCallbacksCreatedIn).Distinct().ToList();

        Assert.That(callbacks.Select(c => $"{c.Method.DeclaringType!.Name}.{c.Method.Name}"),
            Is.SupersetOf(new[] { "NativeLog.Forward", "NativeQuantizeProgress.Forward" }), "the scan finds the known callbacks");
        Assert.Multiple(() =>
        {
            foreach ((MethodInfo method, Type? delegateType) in callbacks)
            {
                string name = $"{method.DeclaringType!.FullName}.{method.Name}";
                CustomAttributeData? attribute = method.CustomAttributes
                    .SingleOrDefault(a => a.AttributeType.FullName == "AOT.MonoPInvokeCallbackAttribute");
                Assert.That(attribute, Is.Not.Null, $"{name} is called by native code but lacks [AOT.MonoPInvokeCallback]");
                Assert.That(method.IsStatic, Is.True, $"{name}: IL2CPP calls back only static methods");
                if (attribute is not null && delegateType is not null)
                {
                    Assert.That(attribute.ConstructorArguments.Single().Value, Is.EqualTo(delegateType), $"{name}: the delegate type it is called as");
                }
            }
        });
    }

    [Test]
    public void CallbackDelegateTypes_AreTheGeneratedOnes()
    {
        // The scan keys on [UnmanagedFunctionPointer]; the generator puts it on every C function-pointer typedef.
        Assert.That(typeof(svdq_log_fn).GetCustomAttribute<UnmanagedFunctionPointerAttribute>(), Is.Not.Null);
        Assert.That(typeof(svdq_quantize_progress_fn).GetCustomAttribute<UnmanagedFunctionPointerAttribute>(), Is.Not.Null);
    }

    /// <summary>
    /// The methods <paramref name="caller"/> makes native callbacks of: an ldftn whose next newobj builds a delegate
    /// type marked [UnmanagedFunctionPointer] (what Marshal.GetFunctionPointerForDelegate takes), or an ldftn of an
    /// [UnmanagedCallersOnly] method (a C# function pointer; no delegate type then).
    /// </summary>
    private static (MethodInfo Method, Type? DelegateType)[] NativeCallbacksCreatedIn(MethodBase caller)
    {
        var code = IlInstructions.Of(caller);
        return code
            .Select((instruction, at) => (instruction, at))
            .Where(x => x.instruction.OpCode == OpCodes.Ldftn && x.instruction.Member is MethodInfo)
            .Select(x =>
            {
                var target = (MethodInfo)x.instruction.Member!;
                Type? delegateType = code.Skip(x.at + 1).FirstOrDefault(i => i.OpCode == OpCodes.Newobj).Member?.DeclaringType;
                bool nativeDelegate = delegateType?.GetCustomAttribute<UnmanagedFunctionPointerAttribute>() is not null;
                bool callersOnly = target.CustomAttributes.Any(a => a.AttributeType.Name == "UnmanagedCallersOnlyAttribute");
                return (target, nativeDelegate ? delegateType : null, nativeDelegate || callersOnly);
            })
            .Where(x => x.Item3)
            .Select(x => (x.target, x.Item2))
            .ToArray();
    }
}
