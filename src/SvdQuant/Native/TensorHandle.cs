using System;
using Microsoft.Win32.SafeHandles;

namespace SvdQuant.Native;

/// <summary>Owns an <c>svdq_tensor</c>.</summary>
internal sealed class TensorHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public TensorHandle(IntPtr tensor)
        : base(ownsHandle: true)
    {
        SetHandle(tensor);
    }

    protected override bool ReleaseHandle() => NativeMethods.svdq_tensor_destroy(handle) == svdq_status.SVDQ_OK;
}
