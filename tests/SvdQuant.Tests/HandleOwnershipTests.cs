using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.InteropServices;
using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Formats;
using SvdQuant.Models;
using SvdQuant.Native;
using SvdQuant.Quantization;

namespace SvdQuant.Tests;

/// <summary>
/// Every native object is destroyed exactly once on every path: only its generated SafeHandle destroys it, and a
/// failure after the engine created it disposes that handle (which does nothing the second time).
/// </summary>
public sealed class HandleOwnershipTests
{
    private sealed class InjectedFault : Exception;

    [Test]
    public void QuantizeGroup_FailureAfterTheLayersExist_DestroysEveryLayer([Values(0, 1, 2)] int failingLayer)
    {
        using var engine = new Engine();
        var random = new GaussianRandom(61);
        float[][,] weights = [random.NextMatrix(8, 64, 1), random.NextMatrix(4, 64, 1), random.NextMatrix(6, 64, 1)];
        var adopted = new List<SvdqLinearHandle>();
        LinearLayer.BeforeReadInfo = handle =>
        {
            adopted.Add(handle);
            if (adopted.Count == failingLayer + 1)
            {
                throw new InjectedFault();
            }
        };
        try
        {
            Assert.Throws<InjectedFault>(() => Quantizer.QuantizeGroup(
                engine, default, weights, options: new QuantizerOptions { Method = QuantizationMethod.Rtn }));
        }
        finally
        {
            LinearLayer.BeforeReadInfo = null;
        }

        // The layers after the failing one were never adopted; the IL test below shows nothing else destroys them.
        Assert.That(adopted, Has.Count.EqualTo(failingLayer + 1));
        Assert.That(adopted.Select(h => h.IsClosed), Is.All.True, "each adopted layer destroyed");
        using QuantizedLayers again = Quantizer.QuantizeGroup(engine, default, weights, options: new QuantizerOptions { Method = QuantizationMethod.Rtn });
        Assert.That(again.Layers.Select(l => l.Info.OutFeatures), Is.EqualTo(new[] { 8, 4, 6 }), "the engine still works");
    }

    [Test]
    public void Adopt_WhenBuildingTheOwnerFails_DisposesTheHandleOnce()
    {
        NativeLibraryCheck.EnsureCompatible(); // loads the library, as every public entry point does first
        NativeMethods.svdq_safetensors_writer_create(out SvdqSafetensorsWriterHandle handle);
        Assume.That(handle.IsInvalid, Is.False);

        Assert.Throws<InjectedFault>(() => OwnedHandle.Adopt<SvdqSafetensorsWriterHandle, object>(handle, _ => throw new InjectedFault()));

        Assert.That(handle.IsClosed, Is.True);
        Assert.DoesNotThrow(handle.Dispose, "a second dispose does nothing");
    }

    [Test]
    public void OnlyTheGeneratedHandles_CallTheDestroyFunctions()
    {
        MethodInfo[] destroys = typeof(NativeMethods).GetMethods(BindingFlags.Static | BindingFlags.NonPublic)
            .Where(m => m.Name.StartsWith("svdq_", StringComparison.Ordinal) && m.Name.EndsWith("_destroy", StringComparison.Ordinal))
            .ToArray();
        var callers = IlInstructions.MethodsOf(typeof(Engine).Assembly)
            .SelectMany(m => IlInstructions.Of(m)
                .Where(i => (i.OpCode == OpCodes.Call || i.OpCode == OpCodes.Ldftn) && destroys.Contains(i.Member))
                .Select(i => $"{m.DeclaringType!.Name}.{m.Name} -> {i.Member!.Name}"))
            .ToList();

        // One destroy function per handle type, each called from that handle's ReleaseHandle and nowhere else.
        Assert.That(destroys.Select(d => d.Name), Is.EquivalentTo(new[]
        {
            "svdq_context_destroy", "svdq_tensor_destroy", "svdq_linear_destroy", "svdq_safetensors_destroy",
            "svdq_safetensors_writer_destroy", "svdq_safetensors_stream_writer_destroy", "svdq_flux_destroy", "svdq_model_destroy", "svdq_flux_generator_destroy",
            "svdq_vae_destroy",
            "svdq_clip_destroy", "svdq_t5_destroy", "svdq_lora_destroy",
        }));
        Assert.That(callers, Is.EquivalentTo(new[]
        {
            "SvdqContextHandle.ReleaseHandle -> svdq_context_destroy",
            "SvdqTensorHandle.ReleaseHandle -> svdq_tensor_destroy",
            "SvdqLinearHandle.ReleaseHandle -> svdq_linear_destroy",
            "SvdqSafetensorsHandle.ReleaseHandle -> svdq_safetensors_destroy",
            "SvdqSafetensorsWriterHandle.ReleaseHandle -> svdq_safetensors_writer_destroy",
            "SvdqSafetensorsStreamWriterHandle.ReleaseHandle -> svdq_safetensors_stream_writer_destroy",
            "SvdqFluxHandle.ReleaseHandle -> svdq_flux_destroy",
            "SvdqModelHandle.ReleaseHandle -> svdq_model_destroy",
            "SvdqFluxGeneratorHandle.ReleaseHandle -> svdq_flux_generator_destroy",
            "SvdqVaeHandle.ReleaseHandle -> svdq_vae_destroy",
            "SvdqClipHandle.ReleaseHandle -> svdq_clip_destroy",
            "SvdqT5Handle.ReleaseHandle -> svdq_t5_destroy",
            "SvdqLoraHandle.ReleaseHandle -> svdq_lora_destroy",
        }));
    }

    [Test]
    public void ANullOptionalTensor_CrossesAsNull_AndTheSharedEmptyHandleSurvives()
    {
        using var engine = new Engine();
        float[,] weight = new GaussianRandom(62).NextMatrix(8, 64, 1);

        // LowRank.Decompose without smoothing passes NativeTensor.None for the smooth tensor.
        LowRankBranch first = LowRank.Decompose(engine, weight, rank: 4);
        LowRankBranch second = LowRank.Decompose(engine, weight, rank: 4);

        Assert.That(NativeTensor.None.IsClosed, Is.False);
        Assert.That(NativeTensor.None.IsInvalid, Is.True);
        Assert.That(second.Up, Is.EqualTo(first.Up));
    }

    [Test]
    public void LogSink_IsFreedWhenTheContextIsDestroyed()
    {
        var lines = new List<string>();
        var engine = new Engine(new EngineOptions { Log = (_, line) => lines.Add(line), LogLevel = LogLevel.Debug });
        FieldInfo contextField = typeof(Engine).GetField("_context", BindingFlags.Instance | BindingFlags.NonPublic)!;
        var context = (SvdqContextHandle)contextField.GetValue(engine)!;
        FieldInfo sinkField = typeof(SvdqContextHandle).GetField("_logSink", BindingFlags.Instance | BindingFlags.NonPublic)!;
        Assume.That(((GCHandle)sinkField.GetValue(context)!).IsAllocated, Is.True);

        engine.Dispose();

        Assert.That(((GCHandle)sinkField.GetValue(context)!).IsAllocated, Is.False);
    }
}
