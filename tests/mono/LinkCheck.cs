using System;
using System.Collections.Generic;
using System.Reflection;
using System.Reflection.Emit;

/// <summary>
/// Resolves every method, field and type token in every method body of an assembly under the running
/// runtime, so a member the assembly calls but this runtime lacks (a MissingMethodException waiting in a
/// code path no check runs) is found without running it.
/// </summary>
internal static class LinkCheck
{
    private static readonly Dictionary<short, OpCode> OpCodesByValue = BuildOpCodes();

    private static Dictionary<short, OpCode> BuildOpCodes()
    {
        var map = new Dictionary<short, OpCode>();
        foreach (FieldInfo f in typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            var o = (OpCode)f.GetValue(null);
            map[o.Value] = o;
        }

        return map;
    }

    /// <summary>Every unresolvable reference as "caller: token -> error"; the count of tokens resolved.</summary>
    public static List<string> Unresolved(Assembly assembly, out int resolved)
    {
        var failures = new List<string>();
        resolved = 0;
        Type[] types;
        try
        {
            types = assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException e)
        {
            foreach (Exception inner in e.LoaderExceptions)
            {
                failures.Add("type load: " + inner.Message);
            }

            types = Array.FindAll(e.Types, t => t != null);
        }

        const BindingFlags all = BindingFlags.DeclaredOnly | BindingFlags.Public | BindingFlags.NonPublic
                                 | BindingFlags.Instance | BindingFlags.Static;
        foreach (Type type in types)
        {
            var methods = new List<MethodBase>();
            try
            {
                methods.AddRange(type.GetMethods(all));
                methods.AddRange(type.GetConstructors(all));
            }
            catch (Exception e)
            {
                failures.Add(type.FullName + ": members: " + e.GetType().Name + ": " + e.Message);
                continue;
            }

            foreach (MethodBase method in methods)
            {
                string caller = type.FullName + "." + method.Name;
                MethodBody body;
                try
                {
                    body = method.GetMethodBody();
                }
                catch (Exception e)
                {
                    failures.Add(caller + ": body: " + e.GetType().Name + ": " + e.Message);
                    continue;
                }

                if (body == null)
                {
                    continue;
                }

                foreach (int token in Tokens(body.GetILAsByteArray()))
                {
                    try
                    {
                        Type[] typeArgs = type.IsGenericType ? type.GetGenericArguments() : null;
                        Type[] methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
                        MemberInfo member = method.Module.ResolveMember(token, typeArgs, methodArgs);
                        if (member == null)
                        {
                            failures.Add(caller + ": token 0x" + token.ToString("x8") + " resolved to null");
                        }
                        else
                        {
                            resolved++;
                        }
                    }
                    catch (Exception e)
                    {
                        failures.Add(caller + ": token 0x" + token.ToString("x8") + ": " + e.GetType().Name + ": " + e.Message);
                    }
                }
            }
        }

        return failures;
    }

    /// <summary>The member and type tokens (method, field, type, ldtoken operands) of an IL body.</summary>
    private static IEnumerable<int> Tokens(byte[] il)
    {
        for (int at = 0; at < il.Length;)
        {
            short value = il[at] == 0xFE ? (short)(0xFE00 | il[at + 1]) : il[at];
            OpCode opCode = OpCodesByValue[value];
            at += opCode.Size;
            switch (opCode.OperandType)
            {
                case OperandType.InlineMethod:
                case OperandType.InlineField:
                case OperandType.InlineType:
                case OperandType.InlineTok:
                    yield return BitConverter.ToInt32(il, at);
                    at += 4;
                    break;
                case OperandType.InlineSwitch:
                    at += 4 + 4 * BitConverter.ToInt32(il, at);
                    break;
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget:
                case OperandType.ShortInlineI:
                case OperandType.ShortInlineVar:
                    at += 1;
                    break;
                case OperandType.InlineVar:
                    at += 2;
                    break;
                case OperandType.InlineI8:
                case OperandType.InlineR:
                    at += 8;
                    break;
                default:
                    at += 4;
                    break;
            }
        }
    }
}
