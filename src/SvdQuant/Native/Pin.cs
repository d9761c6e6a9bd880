using System;
using System.Runtime.InteropServices;

namespace SvdQuant.Native;

/// <summary>
/// What <c>fixed</c> pins a span at: <c>fixed (float* p = &amp;Pin.Ref(span))</c> instead of <c>fixed (float* p = span)</c>.
/// The short form compiles to ReadOnlySpan&lt;T&gt;.GetPinnableReference, whose <c>ref readonly</c> return carries a
/// modreq(InAttribute) that Debian's Mono 6.8 corlib (built with mcs) does not declare, so the netstandard2.1 build would
/// throw MissingMethodException there; MemoryMarshal.GetReference returns a plain <c>ref</c> every runtime has.
/// For the same reason the product reads no ReadOnlySpan&lt;T&gt; through its indexer or foreach (MonoCompatibilityTests).
/// </summary>
internal static unsafe class Pin
{
    /// <summary>The first element, or a null reference for an empty span (a null pointer, as GetPinnableReference gives).</summary>
    public static ref T Ref<T>(ReadOnlySpan<T> span)
        where T : unmanaged =>
        ref span.IsEmpty ? ref *(T*)null : ref MemoryMarshal.GetReference(span);
}
