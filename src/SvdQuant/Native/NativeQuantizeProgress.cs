using System;
using System.Runtime.InteropServices;
using System.Threading;
using AOT;
using SvdQuant.Quantization;

namespace SvdQuant.Native;

/// <summary>
/// The one native progress callback of model quantization: forwards each layer to the caller's
/// <see cref="IProgress{T}"/> and answers cancellation; the callback stays a static method, as IL2CPP requires.
/// </summary>
internal sealed unsafe class NativeQuantizeProgress : NativeProgressSession
{
    // Rooted for the process lifetime: native code holds its address.
    private static readonly svdq_quantize_progress_fn Callback = Forward;

    private readonly IProgress<FluxQuantizeProgress>? _progress;

    public NativeQuantizeProgress(IProgress<FluxQuantizeProgress>? progress, CancellationToken cancellation)
        : base(cancellation)
    {
        _progress = progress;
    }

    public static IntPtr CallbackPointer { get; } = Marshal.GetFunctionPointerForDelegate(Callback);

    [MonoPInvokeCallback(typeof(svdq_quantize_progress_fn))]
    private static int Forward(void* user, svdq_quantize_progress* progress)
    {
        return Deliver<NativeQuantizeProgress>(user, self => self._progress?.Report(new FluxQuantizeProgress(
            NativeText.FromUtf8(progress->layer), progress->done, progress->total,
            progress->calibration_error < 0 ? null : progress->calibration_error)));
    }
}
