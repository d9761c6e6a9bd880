using System;
using System.IO;
using System.Threading;
using Spectre.Console.Cli;
using SvdQuant.Formats;

namespace SvdQuant.Cli.Commands;

/// <summary>
/// A command over the user's files and options: input the engine rejects (a missing or misshapen
/// tensor, a bad option) is one line naming it and exit code 2, and leaves no output file (the
/// engine writes atomically). The engine's own failures (out of memory, internal) go on to
/// Program's handler: exit code 1.
/// </summary>
internal abstract class FileCommand<TSettings> : Command<TSettings>
    where TSettings : CommandSettings
{
    public sealed override int Execute(CommandContext context, TSettings settings, CancellationToken cancellationToken)
    {
        try
        {
            return Run(settings, cancellationToken);
        }
        catch (SvdQuantException e) when (e.Status is not (StatusCode.OutOfMemory or StatusCode.Internal))
        {
            return Fail(e.Message);
        }
    }

    protected abstract int Run(TSettings settings, CancellationToken cancellationToken);

    /// <summary>
    /// Checks an output before any work: refuses an output that is one of the inputs (a folder
    /// input: any file in it), so that a run never replaces what it reads, and a path the engine
    /// could not write (a missing folder, a symlink, a directory or device), so that a long run
    /// never fails only at its end. The engine refuses inputs it has open itself; this also covers
    /// models and layers loaded before the output is written.
    /// </summary>
    protected static void CheckOutput(string output, params string?[] inputs)
    {
        foreach (string? input in inputs)
        {
            if (input is null)
            {
                continue;
            }

            string[] files = Directory.Exists(input) ? Directory.GetFiles(input) : [input];
            foreach (string file in files)
            {
                if (FileIdentity.AreSameFile(output, file))
                {
                    throw new SvdQuantException(StatusCode.InvalidArgument, $"the output {output} is the input {file}; write the output to another file");
                }
            }
        }

        OutputFile.EnsureWritable(output);
    }

    /// <summary>Prints the one-line error and returns exit code 2.</summary>
    protected static int Fail(string message)
    {
        Console.Error.WriteLine($"svdquant: {message}");
        return 2;
    }
}
