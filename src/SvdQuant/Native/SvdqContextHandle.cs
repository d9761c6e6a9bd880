using System.Runtime.InteropServices;

namespace SvdQuant.Native;

/// <summary>Completes the generated context handle: it also owns the managed log sink the context's callback points at.</summary>
internal sealed partial class SvdqContextHandle
{
    // Freed only after the context is destroyed: the context may log until then.
    private GCHandle _logSink;

    /// <summary>Frees <paramref name="logSink"/> once the context is destroyed.</summary>
    public void FreeAfterDestroy(GCHandle logSink) => _logSink = logSink;

    partial void AfterDestroy()
    {
        if (_logSink.IsAllocated)
        {
            _logSink.Free();
        }
    }
}
