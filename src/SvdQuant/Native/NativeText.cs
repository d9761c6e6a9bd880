using System;
using System.Runtime.InteropServices;

namespace SvdQuant.Native;

/// <summary>Reads the engine's NUL-terminated UTF-8 strings.</summary>
internal static unsafe class NativeText
{
    public static string FromUtf8(byte* text) =>
        text == null ? string.Empty : Marshal.PtrToStringUTF8((IntPtr)text) ?? string.Empty;
}
