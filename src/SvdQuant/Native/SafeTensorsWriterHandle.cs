using System;
using Microsoft.Win32.SafeHandles;

namespace SvdQuant.Native;

/// <summary>Owns an <c>svdq_safetensors_writer</c>.</summary>
internal sealed class SafeTensorsWriterHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public SafeTensorsWriterHandle(IntPtr writer)
        : base(ownsHandle: true)
    {
        SetHandle(writer);
    }

    protected override bool ReleaseHandle() => NativeMethods.svdq_safetensors_writer_destroy(handle) == svdq_status.SVDQ_OK;
}
