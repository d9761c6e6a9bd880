using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using SvdQuant.Native;

namespace SvdQuant;

/// <summary>
/// A native engine context: a backend, its worker threads and kernel level. Layers and
/// quantizers run through an engine. One thread at a time may use an engine; separate
/// engines run in parallel.
/// </summary>
public sealed class Engine : IDisposable
{
    private readonly SvdqContextHandle _context;
    private int _inCall;
    private int _disposed;

    /// <summary>Starts an engine.</summary>
    /// <param name="options">The setup; null takes every default.</param>
    /// <exception cref="SvdQuantException">
    /// The engine refused the options, e.g. <see cref="StatusCode.Unsupported"/> with the reason for <see cref="Backend.Cuda"/>
    /// where CUDA cannot run (<see cref="Backend.Auto"/> takes the CPU there instead).
    /// </exception>
    /// <exception cref="DllNotFoundException">The native library could not be loaded; the message lists every path tried.</exception>
    public Engine(EngineOptions? options = null)
    {
        NativeLibraryCheck.EnsureCompatible();
        _context = CreateContext(options ?? new EngineOptions());
        try
        {
            (Backend, ThreadCount, CpuLevel, int ordinal) = ReadInfo(_context);
            Device = DeviceInfo.Read(Backend, ordinal);
        }
        catch
        {
            _context.Dispose();
            throw;
        }
    }

    /// <summary>The version of the native engine, "major.minor.patch".</summary>
    public static unsafe string Version
    {
        get
        {
            NativeLibraryCheck.EnsureCompatible();
            return NativeText.FromUtf8(NativeMethods.svdq_version());
        }
    }

    /// <summary>The ABI version of the native engine, which matches the one these bindings were generated for.</summary>
    public static int AbiVersion
    {
        get
        {
            NativeLibraryCheck.EnsureCompatible();
            return NativeMethods.svdq_abi_version();
        }
    }

    /// <summary>
    /// An explicit path to the native library, tried before the usual places
    /// (runtimes/&lt;rid&gt;/native next to this assembly, the application directory,
    /// the runtime's default search). Set it before the first engine is created.
    /// </summary>
    /// <exception cref="InvalidOperationException">Set after the native library was loaded.</exception>
    /// <exception cref="PlatformNotSupportedException">Set on the netstandard2.1 build, where the host (e.g. Unity) finds native plugins itself.</exception>
    public static string? NativeLibraryPath
    {
#if NET
        get => NativeLibraryResolver.ExplicitPath;
        set
        {
            if (NativeLibraryCheck.HasPassed)
            {
                throw new InvalidOperationException("The native library is already loaded; set NativeLibraryPath before the first engine is created.");
            }

            NativeLibraryResolver.ExplicitPath = value;
        }
#else
        get => null;
        set => throw new PlatformNotSupportedException("The netstandard2.1 build leaves finding the native library to the host.");
#endif
    }

    /// <summary>The backend the engine runs on: the one <see cref="Backend.Auto"/> chose, never Auto itself.</summary>
    public Backend Backend { get; }

    /// <summary>The device the engine runs on, as the engine started (<see cref="GetDevices"/> reads free memory anew).</summary>
    public DeviceInfo Device { get; }

    /// <summary>The number of worker threads.</summary>
    public int ThreadCount { get; }

    /// <summary>The CPU kernel level in use (never <see cref="SvdQuant.CpuLevel.Auto"/>).</summary>
    public CpuLevel CpuLevel { get; }

    /// <summary>The devices <paramref name="backend"/> can run on here, by ordinal (the CPU: one).</summary>
    /// <param name="backend"><see cref="Backend.Cpu"/> or <see cref="Backend.Cuda"/>; <see cref="Backend.Auto"/> names no devices of its own.</param>
    /// <exception cref="SvdQuantException">
    /// <see cref="StatusCode.Unsupported"/> with the reason when <paramref name="backend"/> cannot run here (for CUDA: libsvdquant_cuda
    /// missing or not loadable, no NVIDIA driver, no GPU, no GPU of a supported architecture).
    /// </exception>
    public static unsafe IReadOnlyList<DeviceInfo> GetDevices(Backend backend)
    {
        NativeLibraryCheck.EnsureCompatible();
        int count;
        NativeStatus.Check(NativeMethods.svdq_backend_device_count((int)backend, &count));
        var devices = new DeviceInfo[count];
        for (int ordinal = 0; ordinal < count; ordinal++)
        {
            devices[ordinal] = DeviceInfo.Read(backend, ordinal);
        }

        return devices;
    }

    /// <summary>Whether <paramref name="backend"/> can run here; when not, the engine's reason (as <see cref="GetDevices"/> would throw it).</summary>
    /// <param name="backend"><see cref="Backend.Cpu"/> or <see cref="Backend.Cuda"/>.</param>
    /// <param name="reason">Null when available; else why not, e.g. which library, driver or GPU is missing.</param>
    /// <exception cref="SvdQuantException">Any refusal other than <see cref="StatusCode.Unsupported"/>, e.g. for <see cref="Backend.Auto"/>.</exception>
    public static unsafe bool IsAvailable(Backend backend, out string? reason)
    {
        NativeLibraryCheck.EnsureCompatible();
        try
        {
            int count;
            NativeStatus.Check(NativeMethods.svdq_backend_device_count((int)backend, &count));
            reason = null;
            return true;
        }
        catch (SvdQuantException e) when (e.Status == StatusCode.Unsupported)
        {
            reason = e.Message;
            return false;
        }
    }

    /// <summary>
    /// Stops the engine. Layers created with it stay usable with another engine; models (FLUX, VAE, text encoders)
    /// keep its native context alive until they are disposed, as their memory is freed through it.
    /// </summary>
    public void Dispose()
    {
        // The context handle stays open while models hold it: the engine's own flag refuses further calls.
        Volatile.Write(ref _disposed, 1);
        _context.Dispose();
    }

    /// <summary>
    /// Starts one native call on the context: throws ObjectDisposedException after <see cref="Dispose"/>,
    /// and InvalidOperationException while another call runs (the native context serves one call at a
    /// time; two at once would race on its scratch memory).
    /// </summary>
    internal EngineCall Enter()
    {
        if (Interlocked.CompareExchange(ref _inCall, 1, 0) != 0)
        {
            throw new InvalidOperationException(
                "This Engine is already running a call (on another thread, or from a callback of that call); an Engine serves one call at a time: give each thread its own Engine.");
        }

        if (Volatile.Read(ref _disposed) != 0)
        {
            Exit();
            throw new ObjectDisposedException(nameof(Engine));
        }

        return new EngineCall(this, _context);
    }

    internal void Exit() => Volatile.Write(ref _inCall, 0);

    private static unsafe SvdqContextHandle CreateContext(EngineOptions options)
    {
        svdq_context_options native;
        NativeStatus.Check(NativeMethods.svdq_context_options_init(&native));
        native.backend = (int)options.Backend;
        native.device = options.Device;
        native.num_threads = options.Threads;
        native.cpu_level = (int)options.CpuLevel;
        native.log_level = (int)options.LogLevel;

        GCHandle logSink = default;
        if (options.Log is not null)
        {
            logSink = GCHandle.Alloc(options.Log);
            native.log_callback = NativeLog.CallbackPointer;
            native.log_user = (void*)GCHandle.ToIntPtr(logSink);
        }

        try
        {
            NativeStatus.Check(NativeMethods.svdq_context_create(&native, out SvdqContextHandle context));
            context.FreeAfterDestroy(logSink);
            return context;
        }
        catch
        {
            if (logSink.IsAllocated)
            {
                logSink.Free();
            }

            throw;
        }
    }

    private static unsafe (Backend, int, CpuLevel, int Device) ReadInfo(SvdqContextHandle context)
    {
        svdq_context_info info = default;
        info.struct_size = (uint)sizeof(svdq_context_info);
        NativeStatus.Check(NativeMethods.svdq_context_get_info(context, &info));
        return ((Backend)info.backend, info.num_threads, (CpuLevel)info.cpu_level, info.device);
    }
}
