using System.Runtime.InteropServices;

namespace SvdQuant.Native;

/// <summary>
/// A reference on a handle whose native object another one needs until it is destroyed: taken when the
/// dependent object is created (DangerousAddRef), given back after it is destroyed. Disposing the needed
/// handle first (or finalizing both in any order) then only defers its destruction.
/// </summary>
internal struct HandleReference
{
    private SafeHandle? _held;

    public void Take(SafeHandle handle)
    {
        bool added = false;
        handle.DangerousAddRef(ref added);
        _held = handle;
    }

    public void Return()
    {
        _held?.DangerousRelease();
        _held = null;
    }
}
