using System.Linq;
using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Models;

namespace SvdQuant.Tests;

/// <summary>
/// Backends and devices (issue 18): the CPU device, AUTO's choice, and the reason CUDA gives where it
/// cannot run. The assertions for a machine without CUDA are skipped where an NVIDIA driver is
/// installed (<see cref="CudaMachine"/>); <see cref="Cuda_WhereItRuns_ListsSupportedGpusAndRunsOnThem"/> covers that machine.
/// </summary>
public sealed class DeviceTests
{
    [Test]
    public void CudaEngine_WhereCudaCannotRun_IsUnsupportedWithTheReason()
    {
        CudaMachine.AssumeCudaCannotRun();

        var e = Assert.Throws<SvdQuantException>(() => _ = new Engine(new EngineOptions { Backend = Backend.Cuda }));

        Assert.That(e!.Status, Is.EqualTo(StatusCode.Unsupported));
        Assert.That(e.Message, Does.Match(CudaMachine.Reason).IgnoreCase);
    }

    [Test]
    public void GetDevicesOfCuda_WhereCudaCannotRun_IsUnsupportedWithTheReason()
    {
        CudaMachine.AssumeCudaCannotRun();

        var e = Assert.Throws<SvdQuantException>(() => Engine.GetDevices(Backend.Cuda));

        Assert.That(e!.Status, Is.EqualTo(StatusCode.Unsupported));
        Assert.That(e.Message, Does.Match(CudaMachine.Reason).IgnoreCase);
    }

    /// <summary>IsAvailable answers false instead of throwing, with the very reason GetDevices throws.</summary>
    [Test]
    public void IsAvailableOfCuda_WhereCudaCannotRun_IsFalseWithTheReason()
    {
        CudaMachine.AssumeCudaCannotRun();

        bool available = Engine.IsAvailable(Backend.Cuda, out string? reason);

        var thrown = Assert.Throws<SvdQuantException>(() => Engine.GetDevices(Backend.Cuda));
        Assert.Multiple(() =>
        {
            Assert.That(available, Is.False);
            Assert.That(reason, Does.Match(CudaMachine.Reason).IgnoreCase);
            Assert.That(reason, Is.EqualTo(thrown!.Message));
        });
    }

    /// <summary>AUTO falls back to the CPU, and that engine computes what a CPU engine computes, bit for bit.</summary>
    [Test]
    public void AutoEngine_WhereCudaCannotRun_RunsOnTheCpu()
    {
        CudaMachine.AssumeCudaCannotRun();
        SyntheticLayer data = SyntheticLayer.Create(tokens: 16, inFeatures: 128, outFeatures: 32, seed: 3);

        using var auto = new Engine(new EngineOptions { Backend = Backend.Auto, Threads = 1 });
        using var cpu = new Engine(new EngineOptions { Backend = Backend.Cpu, Threads = 1 });
        using LinearLayer layer = LinearLayer.Create(cpu, LinearScheme.W4A4, data.Weight, data.Bias);

        Assert.Multiple(() =>
        {
            Assert.That(auto.Backend, Is.EqualTo(Backend.Cpu));
            Assert.That(auto.Device.Backend, Is.EqualTo(Backend.Cpu));
            Assert.That(auto.Device.Ordinal, Is.Zero);
            Assert.That(layer.Forward(auto, data.Activations), Is.EqualTo(layer.Forward(cpu, data.Activations)));
        });
    }

    /// <summary>
    /// The CPU is one device: named by the best kernel level it has (whole, so a name cut short or read from
    /// the wrong place fails), its cores, no compute capability and no device memory.
    /// </summary>
    [Test]
    public void GetDevicesOfCpu_IsOneDevice()
    {
        DeviceInfo cpu = Engine.GetDevices(Backend.Cpu).Single();

        Assert.Multiple(() =>
        {
            Assert.That(cpu.Backend, Is.EqualTo(Backend.Cpu));
            Assert.That(cpu.Ordinal, Is.Zero);
            Assert.That(cpu.Name, Does.Match(@"^CPU \((scalar|avx2|avx512_vnni|avx512_bf16) kernels\)$"));
            Assert.That(cpu.ComputeCapability, Is.Null);
            Assert.That(cpu.Multiprocessors, Is.GreaterThanOrEqualTo(1));
            Assert.That(cpu.TotalMemoryBytes, Is.Zero);
            Assert.That(cpu.FreeMemoryBytes, Is.Zero);
            Assert.That(Engine.IsAvailable(Backend.Cpu, out string? reason), Is.True);
            Assert.That(reason, Is.Null);
        });
    }

    [Test]
    public void CpuEngine_Device_IsTheCpuDevice()
    {
        using var engine = new Engine();
        DeviceInfo listed = Engine.GetDevices(Backend.Cpu).Single();

        Assert.Multiple(() =>
        {
            Assert.That(engine.Device.Backend, Is.EqualTo(Backend.Cpu));
            Assert.That(engine.Device.Ordinal, Is.Zero);
            Assert.That(engine.Device.Name, Is.EqualTo(listed.Name));
            Assert.That(engine.Device.Multiprocessors, Is.EqualTo(listed.Multiprocessors));
        });
    }

    /// <summary>A negative ordinal whatever the backend, and one past the CPU's only device.</summary>
    [TestCase(Backend.Cpu, -1)]
    [TestCase(Backend.Auto, -1)]
    [TestCase(Backend.Cpu, 1)]
    public void DeviceThatDoesNotExist_IsAnInvalidArgumentNamingIt(Backend backend, int device)
    {
        var e = Assert.Throws<SvdQuantException>(() => _ = new Engine(new EngineOptions { Backend = backend, Device = device }));

        Assert.That(e!.Status, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(e.Message, Does.Contain($"device {device} "));
    }

    /// <summary>
    /// AUTO is a request, not a device set: asking for its devices is an error, and IsAvailable passes that
    /// error on rather than answering false (it turns only Unsupported into false).
    /// </summary>
    [Test]
    public void DevicesOfAuto_AreAnInvalidArgument()
    {
        var listed = Assert.Throws<SvdQuantException>(() => Engine.GetDevices(Backend.Auto));
        var asked = Assert.Throws<SvdQuantException>(() => Engine.IsAvailable(Backend.Auto, out _));

        Assert.Multiple(() =>
        {
            Assert.That(listed!.Status, Is.EqualTo(StatusCode.InvalidArgument));
            Assert.That(asked!.Status, Is.EqualTo(StatusCode.InvalidArgument));
        });
    }

    /// <summary>
    /// On a machine where CUDA runs: every listed GPU is sm_75 or newer with memory, ordinals count from 0,
    /// and a CUDA engine (and AUTO) runs on GPU 0.
    /// </summary>
    [Test]
    public void Cuda_WhereItRuns_ListsSupportedGpusAndRunsOnThem()
    {
        if (!Engine.IsAvailable(Backend.Cuda, out string? reason))
        {
            Assert.Ignore($"CUDA cannot run here: {reason}");
        }

        var gpus = Engine.GetDevices(Backend.Cuda);
        using var cuda = new Engine(new EngineOptions { Backend = Backend.Cuda });
        using var auto = new Engine(new EngineOptions { Backend = Backend.Auto });

        Assert.Multiple(() =>
        {
            Assert.That(gpus, Is.Not.Empty);
            Assert.That(gpus.Select(g => g.Ordinal), Is.EqualTo(Enumerable.Range(0, gpus.Count)));
            foreach (DeviceInfo gpu in gpus)
            {
                Assert.That(gpu.Backend, Is.EqualTo(Backend.Cuda));
                Assert.That(gpu.Name, Is.Not.Empty);
                Assert.That(gpu.ComputeCapability, Is.GreaterThanOrEqualTo(new System.Version(7, 5)));
                Assert.That(gpu.Multiprocessors, Is.GreaterThanOrEqualTo(1));
                Assert.That(gpu.TotalMemoryBytes, Is.GreaterThan(0));
                Assert.That(gpu.FreeMemoryBytes, Is.InRange(1, gpu.TotalMemoryBytes));
            }

            Assert.That(cuda.Backend, Is.EqualTo(Backend.Cuda));
            Assert.That(cuda.Device.Backend, Is.EqualTo(Backend.Cuda));
            Assert.That(cuda.Device.Ordinal, Is.Zero);
            Assert.That(cuda.Device.Name, Is.EqualTo(gpus[0].Name));
            Assert.That(auto.Backend, Is.EqualTo(Backend.Cuda));
        });
    }
}
