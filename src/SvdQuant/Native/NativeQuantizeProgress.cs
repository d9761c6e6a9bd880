using System;
using System.Runtime.InteropServices;
using System.Threading;
using AOT;
using SvdQuant.Quantization;

namespace SvdQuant.Native;

/// <summary>
/// The one native progress callback of model quantization. <c>user_data</c> is a GCHandle to a
/// <see cref="NativeQuantizeProgress"/> that forwards to the caller's <see cref="IProgress{T}"/>
/// and answers cancellation; the callback stays a static method, as IL2CPP requires.
/// </summary>
internal sealed unsafe class NativeQuantizeProgress
{
    // Rooted for the process lifetime: native code holds its address.
    private static readonly svdq_quantize_progress_fn Callback = Forward;

    private readonly IProgress<FluxQuantizeProgress>? _progress;
    private readonly CancellationToken _cancellation;

    public NativeQuantizeProgress(IProgress<FluxQuantizeProgress>? progress, CancellationToken cancellation)
    {
        _progress = progress;
        _cancellation = cancellation;
    }

    public static IntPtr CallbackPointer { get; } = Marshal.GetFunctionPointerForDelegate(Callback);

    /// <summary>The caller's progress handler threw: quantization stopped and this is rethrown.</summary>
    public Exception? Failure { get; private set; }

    [MonoPInvokeCallback(typeof(svdq_quantize_progress_fn))]
    private static int Forward(void* user, svdq_quantize_progress* progress)
    {
        var self = (NativeQuantizeProgress?)GCHandle.FromIntPtr((IntPtr)user).Target;
        if (self is null)
        {
            return 1;
        }

        try
        {
            self._progress?.Report(new FluxQuantizeProgress(
                NativeText.FromUtf8(progress->layer), progress->done, progress->total,
                progress->calibration_error < 0 ? null : progress->calibration_error));
            return self._cancellation.IsCancellationRequested ? 1 : 0;
        }
        catch (Exception e)
        {
            // An exception must never unwind into native frames: stop, and rethrow it on return.
            self.Failure = e;
            return 1;
        }
    }
}
