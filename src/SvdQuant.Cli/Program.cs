using System;
using System.Runtime.InteropServices;
using System.Threading;
using Spectre.Console;
using Spectre.Console.Cli;
using SvdQuant;
using SvdQuant.Cli;
using SvdQuant.Cli.Commands;

// Exit codes: 0 success, 1 the engine failed, 2 bad command line.
if (Console.IsOutputRedirected)
{
    // Spectre assumes 80 columns without a terminal; keep tables whole in logs and pipes.
    AnsiConsole.Profile.Width = 160;
}

var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("svdquant");
    config.UseAssemblyInformationalVersion();
    config.UseStrictParsing();
    config.PropagateExceptions();
    config.AddCommand<DemoCommand>("demo")
        .WithDescription("Quantize a FLUX-shaped synthetic layer every way and compare error and speed; then sample a small synthetic FLUX model in float, W4A16 and SVDQuant W4A4 (latent PSNR, s/step, preview PNG).");
    config.AddCommand<QuantizeCommand>("quantize")
        .WithDescription("Quantize a float FLUX model (diffusers folder) with calibrated SVDQuant into a Nunchaku-style checkpoint.");
    config.AddCommand<EncodeCommand>("encode")
        .WithDescription("Encode a prompt (or token ids) with a FLUX pipeline's CLIP and T5 into the --embeddings file of generate.");
    config.AddCommand<GenerateCommand>("generate")
        .WithDescription("Generate a picture from a prompt with a FLUX pipeline folder; or, with a transformer alone and text-encoder outputs, latents and their RGB preview PNG.");
    config.AddBranch("flux", flux =>
    {
        flux.SetDescription("The FLUX.1 transformer.");
        flux.AddCommand<FluxForwardCommand>("forward")
            .WithDescription("Run one transformer forward: inputs from a safetensors file, `output` to another.");
    });
    config.AddBranch("vae", vae =>
    {
        vae.SetDescription("The VAE (diffusers' AutoencoderKL) from and to safetensors files; DIR is a VAE folder or a FLUX folder with vae/.");
        vae.AddCommand<VaeDecodeCommand>("decode")
            .WithDescription("vae.decode: `latents` [[B,C,h,w]] (no scaling) into `image` [[B,3,8h,8w]].");
        vae.AddCommand<VaeEncodeCommand>("encode")
            .WithDescription("vae.encode: `image` [[B,3,H,W]] in [[-1,1]] into `mean` and `logvar` [[B,C,H/8,W/8]] (no scaling).");
    });
    config.AddBranch("layer", layer =>
    {
        layer.SetDescription("One linear layer from and to safetensors files.");
        layer.AddCommand<LayerQuantizeCommand>("quantize")
            .WithDescription("Quantize weight [[N,K]] (+ bias, calib) into a Nunchaku-style layer file.");
        layer.AddCommand<LayerRunCommand>("run")
            .WithDescription("Apply a quantized layer file to x [[T,K]]; write y [[T,N]].");
    });
    config.AddBranch("lora", lora =>
    {
        lora.SetDescription("LoRA files (add them to a model with --lora FILE[[:STRENGTH]] on flux forward, generate and quantize).");
        lora.AddCommand<LoraInspectCommand>("inspect")
            .WithDescription("Show a LoRA file's key style, modules (FLUX.1 modules matched by name), rank, alpha and unused keys.");
    });
    config.AddCommand<DevicesCommand>("devices")
        .WithDescription("List the devices each backend can run on here (the CPU; CUDA's GPUs), or why a backend cannot run.");
    config.AddCommand<InspectCommand>("inspect")
        .WithDescription("Show a safetensors checkpoint's flavour (diffusers, Nunchaku INT4/NVFP4, ours), parameters, size, metadata and tensors.");
});

// Ctrl+C and SIGTERM cancel the running command through its token: a quantization stops at
// its next layer and leaves no file (exit 130). A second signal ends the process at once.
using var cancel = new CancellationTokenSource();
using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Cancel);
using PosixSignalRegistration terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Cancel);

try
{
    return app.Run(args, cancel.Token);
}
catch (CommandAppException e)
{
    Console.Error.WriteLine($"svdquant: {OptionValueErrors.Describe(e.Message, args)}");
    return 2;
}
catch (Exception e) when (e is SvdQuantException or DllNotFoundException)
{
    Console.Error.WriteLine($"svdquant: {e.Message}");
    return 1;
}

void Cancel(PosixSignalContext signal)
{
    if (!cancel.IsCancellationRequested)
    {
        signal.Cancel = true;
        Console.Error.WriteLine($"svdquant: {signal.Signal}: stopping (again to end at once)");
        cancel.Cancel();
    }
}
