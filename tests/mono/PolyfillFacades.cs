using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;

/// <summary>
/// Writes the sources of System.Memory, System.Buffers and System.Threading.Tasks.Extensions as type-forwarding facades
/// to this runtime's corlib, and the public key they are delay-signed with. The netstandard2.0 dependencies
/// (Microsoft.ML.Tokenizers, System.Text.Json, Google.Protobuf) reference these assemblies; .NET and Unity's Mono provide
/// them, Debian's Mono 6.8 does not, and the NuGet packages' own copies (separate Span types) are pruned from a
/// netstandard2.1 publish. Usage: mono PolyfillFacades.exe KEY_SOURCE.dll OUT_DIR (KEY_SOURCE: any assembly signed
/// with the key of token cc7b13ffcd2ddd51, e.g. System.Text.Json.dll).
/// </summary>
internal static class PolyfillFacades
{
    private static readonly string[] MemoryTypes =
    {
        "System.Span`1", "System.ReadOnlySpan`1", "System.Memory`1", "System.ReadOnlyMemory`1", "System.MemoryExtensions",
        "System.SequencePosition", "System.Runtime.InteropServices.MemoryMarshal", "System.Runtime.InteropServices.SequenceMarshal",
    };

    private static readonly string[] TaskTypes =
    {
        "System.Runtime.CompilerServices.AsyncMethodBuilderAttribute", "System.Runtime.CompilerServices.AsyncValueTaskMethodBuilder",
        "System.Runtime.CompilerServices.AsyncValueTaskMethodBuilder`1", "System.Runtime.CompilerServices.ConfiguredValueTaskAwaitable",
        "System.Runtime.CompilerServices.ConfiguredValueTaskAwaitable`1", "System.Runtime.CompilerServices.ValueTaskAwaiter",
        "System.Runtime.CompilerServices.ValueTaskAwaiter`1",
    };

    private static int Main(string[] args)
    {
        File.WriteAllBytes(Path.Combine(args[1], "open.snk"), AssemblyName.GetAssemblyName(args[0]).GetPublicKey());
        Type[] corlib = typeof(object).Assembly.GetExportedTypes().Where(t => !t.IsNested).ToArray();
        // Versions above every reference the dependencies make (System.Memory 4.0.2.0, System.Buffers 4.0.2.0, ...).
        Write(args[1], "System.Memory", "4.0.5.0", corlib.Where(t => MemoryTypes.Contains(t.FullName)
            || (t.Namespace != null && t.Namespace.StartsWith("System.Buffers") && t.Name != "ArrayPool`1")));
        Write(args[1], "System.Buffers", "4.0.5.0", corlib.Where(t => t.FullName == "System.Buffers.ArrayPool`1"));
        Write(args[1], "System.Threading.Tasks.Extensions", "4.2.4.0", corlib.Where(t => TaskTypes.Contains(t.FullName)
            || t.FullName.StartsWith("System.Threading.Tasks.ValueTask") || t.Namespace == "System.Threading.Tasks.Sources"));
        return 0;
    }

    private static void Write(string folder, string assembly, string version, IEnumerable<Type> types)
    {
        var lines = new List<string> { "[assembly: System.Reflection.AssemblyVersion(\"" + version + "\")]" };
        lines.AddRange(types.OrderBy(t => t.FullName).Select(t => "[assembly: System.Runtime.CompilerServices.TypeForwardedTo(typeof(" + Name(t) + "))]"));
        File.WriteAllLines(Path.Combine(folder, assembly + ".cs"), lines);
        Console.WriteLine(assembly + ": " + (lines.Count - 1) + " types forwarded");
    }

    private static string Name(Type t)
    {
        if (!t.IsGenericTypeDefinition)
        {
            return "global::" + t.FullName;
        }

        return "global::" + t.FullName.Substring(0, t.FullName.IndexOf('`')) + "<" + new string(',', t.GetGenericArguments().Length - 1) + ">";
    }
}
