using System;
using System.Collections.Generic;
using System.Globalization;
using System.Threading;
using Spectre.Console;
using Spectre.Console.Cli;

namespace SvdQuant.Cli.Commands;

/// <summary>
/// <c>svdquant devices</c>: every backend's devices (the CPU always; CUDA's GPUs with compute
/// capability, multiprocessors and memory), and for a backend that cannot run here, the engine's reason.
/// </summary>
internal sealed class DevicesCommand : Command<EmptyCommandSettings>
{
    private static readonly Backend[] Backends = [Backend.Cpu, Backend.Cuda];

    public override int Execute(CommandContext context, EmptyCommandSettings settings, CancellationToken cancellationToken)
    {
        var table = new Table()
            .AddColumn("Backend")
            .AddColumn(new TableColumn("Device").RightAligned())
            .AddColumn("Name")
            .AddColumn(new TableColumn("Compute capability").RightAligned())
            .AddColumn(new TableColumn("Multiprocessors").RightAligned())
            .AddColumn(new TableColumn("Memory GiB").RightAligned())
            .AddColumn(new TableColumn("Free GiB").RightAligned());
        var unavailable = new List<(Backend Backend, string Reason)>();
        foreach (Backend backend in Backends)
        {
            if (!Engine.IsAvailable(backend, out string? reason))
            {
                unavailable.Add((backend, reason!));
                continue;
            }

            foreach (DeviceInfo device in Engine.GetDevices(backend))
            {
                bool gpu = device.ComputeCapability is not null;
                table.AddRow(
                    new Text(Word(device.Backend)),
                    new Text(device.Ordinal.ToString(CultureInfo.InvariantCulture)),
                    new Text(device.Name),
                    new Text(gpu ? device.ComputeCapability!.ToString() : string.Empty),
                    new Text(device.Multiprocessors.ToString(CultureInfo.InvariantCulture) + (gpu ? " SMs" : " cores")),
                    new Text(gpu ? GiB(device.TotalMemoryBytes) : string.Empty),
                    new Text(gpu ? GiB(device.FreeMemoryBytes) : string.Empty));
            }
        }

        AnsiConsole.Write(table);
        foreach ((Backend backend, string reason) in unavailable)
        {
            // Plain, so that a long reason (it names the library's path) stays one line.
            Console.WriteLine($"{Word(backend)}: not available: {reason}");
        }

        return 0;
    }

    /// <summary>The backend as --backend spells it.</summary>
    private static string Word(Backend backend) => backend.ToString().ToLowerInvariant();

    private static string GiB(long bytes) => (bytes / (1024.0 * 1024.0 * 1024.0)).ToString("0.0", CultureInfo.InvariantCulture);
}
