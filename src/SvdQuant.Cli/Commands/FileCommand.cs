using System;
using System.Threading;
using Spectre.Console.Cli;

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

    /// <summary>Prints the one-line error and returns exit code 2.</summary>
    protected static int Fail(string message)
    {
        Console.Error.WriteLine($"svdquant: {message}");
        return 2;
    }
}
