using System;
using Spectre.Console.Cli;
using SvdQuant;
using SvdQuant.Cli.Commands;

// Exit codes: 0 success, 1 the engine failed, 2 bad command line.
var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("svdquant");
    config.UseAssemblyInformationalVersion();
    config.UseStrictParsing();
    config.PropagateExceptions();
    config.AddCommand<DemoCommand>("demo")
        .WithDescription("Quantize a FLUX-shaped synthetic layer (float, W4A16, naive W4A4, SVDQuant W4A4) and compare error and speed.");
});

try
{
    return app.Run(args);
}
catch (CommandAppException e)
{
    Console.Error.WriteLine($"svdquant: {e.Message}");
    return 2;
}
catch (Exception e) when (e is SvdQuantException or DllNotFoundException)
{
    Console.Error.WriteLine($"svdquant: {e.Message}");
    return 1;
}
