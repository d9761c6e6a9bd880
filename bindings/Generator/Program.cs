using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace SvdQuant.BindingsGenerator;

/// <summary>A failure the user can act on; printed without a stack trace.</summary>
internal sealed class GeneratorException(string message) : Exception(message);

internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length != 2)
        {
            Console.Error.WriteLine("usage: dotnet run --project bindings/Generator -- <path/to/svdquant.h> <output.cs>");
            Console.Error.WriteLine("  CASTXML=<path> overrides the castxml executable.");
            return 2;
        }

        try
        {
            string header = Path.GetFullPath(args[0]);
            string output = Path.GetFullPath(args[1]);
            if (!File.Exists(header))
                throw new GeneratorException($"header not found: {args[0]}");

            string xmlPath = Path.GetTempFileName();
            try
            {
                RunCastXml(header, xmlPath);
                var model = CastXmlModel.Load(xmlPath, header);
                string code = CSharpEmitter.Emit(model, DisplayPath(header));
                Console.WriteLine(WriteIfChanged(output, code) ? $"wrote {args[1]}" : $"{args[1]} is up to date");
            }
            finally
            {
                File.Delete(xmlPath);
            }
            return 0;
        }
        catch (GeneratorException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    private static void RunCastXml(string header, string xmlPath)
    {
        string castxml = Environment.GetEnvironmentVariable("CASTXML") is { Length: > 0 } v ? v : "castxml";
        var psi = new ProcessStartInfo(castxml)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("--castxml-output=1");
        // CastXML needs a real compiler to imitate (predefined macros, target ABI);
        // C mode chokes on this header, so parse it as C++ (it has extern "C").
        if (OperatingSystem.IsWindows())
        {
            psi.ArgumentList.Add("--castxml-cc-msvc");
            psi.ArgumentList.Add("cl");
        }
        else
        {
            psi.ArgumentList.Add("--castxml-cc-gnu");
            psi.ArgumentList.Add("g++");
        }
        foreach (string a in new[] { "-x", "c++", "-std=c++17", header, "-o", xmlPath })
            psi.ArgumentList.Add(a);

        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new GeneratorException($"could not start '{castxml}'");
        }
        catch (Win32Exception e)
        {
            throw new GeneratorException(
                $"could not run castxml ('{castxml}': {e.Message}). Install it (Debian/Ubuntu: apt-get install castxml; " +
                "other systems: https://github.com/CastXML/CastXML/releases) or set CASTXML to its path.");
        }

        using (process)
        {
            // Drain both pipes concurrently so a chatty castxml cannot block on a full pipe.
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            process.WaitForExit();
            if (process.ExitCode != 0)
                throw new GeneratorException(
                    $"castxml failed with exit code {process.ExitCode}:\n{stdout.Result}{stderr.Result}".TrimEnd());
        }
    }

    /// <summary>
    /// The header path as written in the banner: relative to the repository root so the
    /// output is the same on every machine and for every way of spelling the argument.
    /// </summary>
    private static string DisplayPath(string header)
    {
        for (var dir = Path.GetDirectoryName(header); dir != null; dir = Path.GetDirectoryName(dir))
        {
            if (Directory.Exists(Path.Combine(dir, "bindings", "Generator")) || Path.Exists(Path.Combine(dir, ".git")))
                return Path.GetRelativePath(dir, header).Replace('\\', '/');
        }
        return Path.GetFileName(header);
    }

    /// <summary>Leaves an identical file untouched so incremental builds stay incremental.</summary>
    private static bool WriteIfChanged(string path, string content)
    {
        byte[] bytes = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(content);
        if (File.Exists(path) && File.ReadAllBytes(path).AsSpan().SequenceEqual(bytes))
            return false;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
        return true;
    }
}
