using System;
using System.Runtime.InteropServices;
using System.Text;

namespace SvdQuant.Native;

/// <summary>Converts between .NET strings and the engine's NUL-terminated UTF-8 strings.</summary>
internal static unsafe class NativeText
{
    public static string FromUtf8(byte* text) =>
        text == null ? string.Empty : Marshal.PtrToStringUTF8((IntPtr)text) ?? string.Empty;

    /// <summary>The text in a fixed buffer of <paramref name="capacity"/> bytes: up to its first NUL, or all of it without one.</summary>
    public static string FromUtf8(byte* text, int capacity)
    {
        int length = new ReadOnlySpan<byte>(text, capacity).IndexOf((byte)0);
        return Encoding.UTF8.GetString(text, length < 0 ? capacity : length);
    }

    /// <summary>The UTF-8 bytes of <paramref name="text"/> with a terminating NUL, ready to pin.</summary>
    public static byte[] ToUtf8(string text)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
        Encoding.UTF8.GetBytes(text, 0, text.Length, bytes, 0);
        return bytes;
    }
}
