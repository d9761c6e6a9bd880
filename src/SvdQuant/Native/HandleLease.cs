using System;
using System.Runtime.InteropServices;

namespace SvdQuant.Native;

/// <summary>
/// Holds a reference on a <see cref="SafeHandle"/> for one native call, so that a
/// concurrent Dispose cannot free the native object while the call uses it.
/// </summary>
internal readonly ref struct HandleLease
{
    private readonly SafeHandle _handle;

    private HandleLease(SafeHandle handle)
    {
        bool added = false;
        handle.DangerousAddRef(ref added);
        _handle = handle;
        Pointer = handle.DangerousGetHandle();
    }

    /// <summary>The native pointer, valid until the lease is disposed.</summary>
    public IntPtr Pointer { get; }

    /// <summary>Leases <paramref name="handle"/>, or throws ObjectDisposedException naming <paramref name="owner"/>.</summary>
    public static HandleLease Of(SafeHandle handle, string owner)
    {
        if (handle.IsClosed)
        {
            throw new ObjectDisposedException(owner);
        }

        return new HandleLease(handle);
    }

    public void Dispose() => _handle.DangerousRelease();
}
