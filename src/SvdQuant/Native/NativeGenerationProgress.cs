using System;
using System.Runtime.InteropServices;
using System.Threading;
using AOT;
using SvdQuant.Generation;

namespace SvdQuant.Native;

/// <summary>
/// The one native progress callback of FLUX generation: forwards each step to the caller's
/// <see cref="IProgress{T}"/> and answers cancellation; the callback stays a static method, as IL2CPP requires.
/// </summary>
internal sealed unsafe class NativeGenerationProgress : NativeProgressSession
{
    // Rooted for the process lifetime: native code holds its address.
    private static readonly svdq_generation_progress_fn Callback = Forward;

    private readonly IProgress<GenerationProgress>? _progress;

    public NativeGenerationProgress(IProgress<GenerationProgress>? progress, CancellationToken cancellation)
        : base(cancellation)
    {
        _progress = progress;
    }

    public static IntPtr CallbackPointer { get; } = Marshal.GetFunctionPointerForDelegate(Callback);

    [MonoPInvokeCallback(typeof(svdq_generation_progress_fn))]
    private static int Forward(void* user, svdq_generation_step* step)
    {
        return Deliver<NativeGenerationProgress>(
            user, self => self._progress?.Report(new GenerationProgress(step->step, step->total, step->sigma, step->elapsed_seconds)));
    }
}
