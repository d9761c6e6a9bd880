using System;
using Microsoft.Win32.SafeHandles;

namespace SvdQuant.Native;

/// <summary>Owns an <c>svdq_linear</c>.</summary>
internal sealed class LinearHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public LinearHandle(IntPtr linear)
        : base(ownsHandle: true)
    {
        SetHandle(linear);
    }

    protected override bool ReleaseHandle() => NativeMethods.svdq_linear_destroy(handle) == svdq_status.SVDQ_OK;
}
