using System;
using Microsoft.Win32.SafeHandles;

namespace SvdQuant.Native;

/// <summary>Owns an <c>svdq_flux</c>.</summary>
internal sealed class FluxHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public FluxHandle(IntPtr model)
        : base(ownsHandle: true)
    {
        SetHandle(model);
    }

    protected override bool ReleaseHandle() => NativeMethods.svdq_flux_destroy(handle) == svdq_status.SVDQ_OK;
}
