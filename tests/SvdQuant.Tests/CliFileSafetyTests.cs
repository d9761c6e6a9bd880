using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using NUnit.Framework;
using SvdQuant.Cli.Demo;

namespace SvdQuant.Tests;

/// <summary>
/// The CLI never loses or corrupts a file: an output that is an input is refused, concurrent
/// writers of one output each leave a whole file, a FIFO input does not hang, a signal during
/// `quantize` cancels it with no file left, and user text is never read as console markup.
/// </summary>
public sealed class CliFileSafetyTests : CliFixture
{
    private static readonly string Inputs = Path.Combine(FluxTiny, "inputs.safetensors");

    [Test]
    public void AnOutputThatIsAnInput_IsRefusedAndTheInputKept()
    {
        string inputs = TempPath("in.safetensors"), link = TempPath("link.safetensors"), hard = TempPath("hard.safetensors");
        File.Copy(Inputs, inputs);
        File.CreateSymbolicLink(link, inputs);
        byte[] before = File.ReadAllBytes(inputs);

        AssertRejected(Run("flux", "forward", "--model", FluxTiny, "--inputs", inputs, "--output", inputs), "is the input");
        AssertRejected(Run("flux", "forward", "--model", FluxTiny, "--inputs", inputs, "--output", link), "is the input");
        string shard = Path.Combine(FluxTiny, "diffusion_pytorch_model.safetensors");
        AssertRejected(Run("flux", "forward", "--model", FluxTiny, "--inputs", inputs, "--output", shard), "is the input", shard);
        AssertRejected(Run("quantize", "--model", FluxTiny, "--output", shard, "--rank", "16"), "is the input");

        string layer = QuantizedLayer();
        Assert.That(Process.Start("ln", [layer, hard])!.WaitForExit(10_000), Is.True);
        byte[] layerBefore = File.ReadAllBytes(layer);
        AssertRejected(Run("layer", "run", "--layer", layer, "--input", LayerInput(), "--output", hard), "is the input");
        AssertRejected(Run("layer", "quantize", "--input", TempPath("L.safetensors"), "--output", TempPath("L.safetensors")), "is the input");

        Assert.Multiple(() =>
        {
            Assert.That(File.ReadAllBytes(inputs), Is.EqualTo(before));
            Assert.That(File.ReadAllBytes(layer), Is.EqualTo(layerBefore));
            Assert.That(File.ReadAllBytes(shard), Has.Length.GreaterThan(0));
        });
    }

    [Test]
    public void TwoRunsWritingOneOutput_EachLeaveAWholeFile()
    {
        string layer = QuantizedLayer(), input = LayerInput(), output = TempPath("Y.safetensors");
        string[] arguments = ["layer", "run", "--layer", layer, "--input", input, "--output", output];
        Process first = Start(arguments), second = Start(arguments);
        AssertSucceeded(Finish(first, arguments));
        AssertSucceeded(Finish(second, arguments));

        float[,] y = ReadMatrix(output, "y");
        Assert.That(y.GetLength(0), Is.EqualTo(48));
        Assert.That(y.Cast<float>().Any(v => v != 0), Is.True, "the values, not zeros behind a valid header");
        Assert.That(Directory.GetFiles(TempPath("")).Select(Path.GetFileName), Has.None.StartWith(".svdq-"), "no temporaries left");
    }

    [Test]
    public void AFifoInput_IsRefusedWithoutWaiting()
    {
        string fifo = TempPath("fifo.safetensors");
        Assert.That(Process.Start("mkfifo", [fifo])!.WaitForExit(10_000), Is.True);

        AssertRejected(Run("inspect", fifo), fifo, "not a regular file");
        AssertRejected(Run("flux", "forward", "--model", FluxTiny, "--inputs", fifo, "--output", TempPath("out.safetensors")), "not a regular file");
    }

    [Test]
    public void ASymlinkOrDeviceOutput_IsRefusedNotReplaced()
    {
        string target = TempPath("target.safetensors"), link = TempPath("out.safetensors");
        File.WriteAllText(target, "keep");
        File.CreateSymbolicLink(link, target);

        AssertRejected(Run("flux", "forward", "--model", FluxTiny, "--inputs", Inputs, "--output", link), "symbolic link");
        AssertRejected(Run("flux", "forward", "--model", FluxTiny, "--inputs", Inputs, "--output", "/dev/null"), "not a regular file");
        Assert.That(new FileInfo(link).LinkTarget, Is.EqualTo(target));
        Assert.That(File.ReadAllText(target), Is.EqualTo("keep"));
    }

    [Test]
    public void AnOutputInAMissingFolder_IsRefusedBeforeAnyWork()
    {
        string missing = TempPath("missing");
        string Output(string name) => Path.Combine(missing, name);

        Assert.Multiple(() =>
        {
            AssertRejected(Run("quantize", "--model", FluxTiny, "--output", Output("q.safetensors"), "--rank", "16"), $"the folder {missing} does not exist");
            AssertRejected(Run("flux", "forward", "--model", FluxTiny, "--inputs", Inputs, "--output", Output("o.safetensors")), "does not exist");
            AssertRejected(Run("demo", "--output", Output("demo.png")), "does not exist");
            Assert.That(Directory.GetFileSystemEntries(TempPath("")), Is.Empty, "nothing written, no temporaries");
        });
    }

    [TestCase(15)]  // SIGTERM
    [TestCase(2)]   // SIGINT
    public void ASignalDuringQuantize_CancelsWithNoFileLeft(int signal)
    {
        AssumeChildrenReceive(signal);
        string output = TempPath("q.safetensors");
        string[] arguments = ["quantize", "--model", FluxTiny, "--output", output, "--rank", "16"];
        Process process = Start(arguments);
        // The streaming writer's temporary appears once quantization has started.
        var started = Stopwatch.StartNew();
        while (!Directory.GetFiles(TempPath("")).Any(f => Path.GetFileName(f).StartsWith(".svdq-", StringComparison.Ordinal)) && !process.HasExited)
        {
            Assert.That(started.Elapsed, Is.LessThan(TimeSpan.FromMinutes(1)), "quantization never started");
            Thread.Sleep(5);
        }

        Assume.That(process.HasExited, Is.False, "flux-tiny quantized before the signal could be sent");
        SendSignal(process, signal);
        CliResult result = Finish(process, arguments);
        // On a loaded machine the last layer can be written and the file committed between the check
        // above and the signal's arrival: then there was nothing left to cancel.
        if (result.ExitCode == 0)
        {
            Assert.That(File.Exists(output), "a run that finished wrote its file");
            Assert.Inconclusive("the signal arrived after the output was committed");
        }

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(130), result.Errors);
            Assert.That(result.Errors, Does.Contain("cancelled; no file written"));
            Assert.That(Directory.GetFiles(TempPath("")), Is.Empty, "no output and no temporaries");
        });
    }

    [Test]
    public void InspectFilter_IsTextNotMarkup()
    {
        CliResult result = Run("inspect", Inputs, "--filter", "[");
        AssertSucceeded(result);
        Assert.That(result.Output, Does.Contain("Tensors containing '['"));
    }

    private string LayerInput()
    {
        string path = TempPath("X.safetensors");
        if (!File.Exists(path))
        {
            Write(path, ("x", SyntheticLayer.Create(tokens: 48, inFeatures: 256, outFeatures: 80, seed: 9).Activations));
        }

        return path;
    }

    private string QuantizedLayer()
    {
        SyntheticLayer data = SyntheticLayer.Create(tokens: 48, inFeatures: 256, outFeatures: 80, seed: 9);
        string input = TempPath("L.safetensors"), layer = TempPath("Q.safetensors");
        Write(input, ("weight", data.Weight), ("calib", data.Calibration));
        AssertSucceeded(Run("layer", "quantize", "--input", input, "--output", layer, "--method", "rtn"));
        return layer;
    }
}
