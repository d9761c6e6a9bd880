using System;
using BenchmarkDotNet.Running;
using SvdQuant.Benchmarks;

// --memory: the FLUX.1-dev weight memory report (a measurement, not a timing); anything else goes to BenchmarkDotNet.
if (args.Length == 1 && args[0] == FluxMemoryReport.Switch)
{
    FluxMemoryReport.Run(Console.Out);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
