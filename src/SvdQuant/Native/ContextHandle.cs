using System;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace SvdQuant.Native;

/// <summary>Owns an <c>svdq_context</c> and the managed log sink its callback points at.</summary>
internal sealed class ContextHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    // Freed only after the context is destroyed: the context may log until then.
    private readonly GCHandle _logSink;

    public ContextHandle(IntPtr context, GCHandle logSink)
        : base(ownsHandle: true)
    {
        SetHandle(context);
        _logSink = logSink;
    }

    protected override bool ReleaseHandle()
    {
        svdq_status status = NativeMethods.svdq_context_destroy(handle);
        if (_logSink.IsAllocated)
        {
            _logSink.Free();
        }

        return status == svdq_status.SVDQ_OK;
    }
}
