using System;
using System.Runtime.InteropServices;
using AOT;

namespace SvdQuant.Native;

/// <summary>
/// The one native log callback. Each context's <c>log_user</c> is a GCHandle to
/// the engine's <see cref="Action{LogLevel, String}"/>, so no per-engine delegate
/// has to be kept alive and the callback stays a static method (as IL2CPP requires).
/// </summary>
internal static unsafe class NativeLog
{
    // Rooted for the process lifetime: native code holds its address.
    private static readonly svdq_log_fn Callback = Forward;

    public static IntPtr CallbackPointer { get; } = Marshal.GetFunctionPointerForDelegate(Callback);

    [MonoPInvokeCallback(typeof(svdq_log_fn))]
    private static void Forward(int level, byte* message, void* user)
    {
        try
        {
            var sink = (Action<LogLevel, string>?)GCHandle.FromIntPtr((IntPtr)user).Target;
            sink?.Invoke((LogLevel)level, NativeText.FromUtf8(message));
        }
        catch (Exception)
        {
            // An exception must never unwind into native frames; a failing logger loses its line.
        }
    }
}
