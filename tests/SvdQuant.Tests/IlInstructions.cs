using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Reflection.Emit;

namespace SvdQuant.Tests;

/// <summary>
/// Decodes the IL of the product assembly's method bodies, so tests can check rules about every call site
/// (which methods call a destroy function, which become native callbacks) instead of a hand-kept list.
/// </summary>
internal static class IlInstructions
{
    /// <summary>One instruction; <see cref="Member"/> is its resolved method, field or type operand, if any.</summary>
    internal readonly record struct Instruction(OpCode OpCode, MemberInfo? Member);

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>Every method and constructor with a body in <paramref name="assembly"/>, compiler-generated ones included.</summary>
    public static IEnumerable<MethodBase> MethodsOf(Assembly assembly)
    {
        const BindingFlags all = BindingFlags.DeclaredOnly | BindingFlags.Public | BindingFlags.NonPublic
                                 | BindingFlags.Instance | BindingFlags.Static;
        return assembly.GetTypes()
            .SelectMany(t => t.GetMethods(all).Cast<MethodBase>().Concat(t.GetConstructors(all)))
            .Where(m => m.GetMethodBody() is not null);
    }

    /// <summary>The instructions of <paramref name="method"/>'s body, in order.</summary>
    public static List<Instruction> Of(MethodBase method)
    {
        byte[] il = method.GetMethodBody()!.GetILAsByteArray()!;
        var instructions = new List<Instruction>();
        for (int at = 0; at < il.Length;)
        {
            short value = il[at] == 0xFE ? (short)(0xFE00 | il[at + 1]) : il[at];
            OpCode opCode = OpCodesByValue[value];
            at += opCode.Size;
            MemberInfo? member = null;
            switch (opCode.OperandType)
            {
                case OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineType or OperandType.InlineTok:
                    member = Resolve(method, BitConverter.ToInt32(il, at));
                    at += 4;
                    break;
                case OperandType.InlineSwitch:
                    at += 4 + 4 * BitConverter.ToInt32(il, at);
                    break;
                default:
                    at += OperandSize(opCode.OperandType);
                    break;
            }

            instructions.Add(new Instruction(opCode, member));
        }

        return instructions;
    }

    private static MemberInfo Resolve(MethodBase method, int token)
    {
        Type[]? typeArguments = method.DeclaringType is { IsGenericType: true } t ? t.GetGenericArguments() : null;
        Type[]? methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        return method.Module.ResolveMember(token, typeArguments, methodArguments)!;
    }

    private static int OperandSize(OperandType type) => type switch
    {
        OperandType.InlineNone => 0,
        OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
        OperandType.InlineVar => 2,
        OperandType.InlineI8 or OperandType.InlineR => 8,
        _ => 4, // InlineBrTarget, InlineI, InlineSig, InlineString, ShortInlineR
    };
}
