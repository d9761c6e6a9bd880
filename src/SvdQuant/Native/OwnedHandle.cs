using System;
using System.Runtime.InteropServices;

namespace SvdQuant.Native;

/// <summary>Ownership rules for the generated handle classes (see bindings/Generator).</summary>
internal static class OwnedHandle
{
    /// <summary>
    /// <paramref name="handle"/>, or ObjectDisposedException naming <paramref name="owner"/> once it is disposed
    /// (the marshaller's own exception would name only "SafeHandle"). The marshaller keeps the handle alive
    /// during each call it is passed to, so a concurrent Dispose cannot free it under the call.
    /// </summary>
    public static T NotDisposed<T>(this T handle, string owner)
        where T : SafeHandle =>
        handle.IsClosed ? throw new ObjectDisposedException(owner) : handle;

    /// <summary>
    /// Builds the managed owner of a handle the engine just created; if that fails the handle is disposed, so
    /// the native object is destroyed exactly once on every path (disposing a SafeHandle again does nothing).
    /// </summary>
    public static TOwner Adopt<THandle, TOwner>(THandle handle, Func<THandle, TOwner> build)
        where THandle : SafeHandle
    {
        try
        {
            return build(handle);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }
}
