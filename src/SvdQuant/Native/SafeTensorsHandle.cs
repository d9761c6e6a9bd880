using System;
using Microsoft.Win32.SafeHandles;

namespace SvdQuant.Native;

/// <summary>Owns an <c>svdq_safetensors</c> (a memory-mapped checkpoint file).</summary>
internal sealed class SafeTensorsHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public SafeTensorsHandle(IntPtr file)
        : base(ownsHandle: true)
    {
        SetHandle(file);
    }

    protected override bool ReleaseHandle() => NativeMethods.svdq_safetensors_destroy(handle) == svdq_status.SVDQ_OK;
}
