using System;
using SvdQuant.Native;

namespace SvdQuant.Formats;

/// <summary>Which file a path names, as the operating system identifies it.</summary>
public static class FileIdentity
{
    /// <summary>
    /// Whether <paramref name="a"/> and <paramref name="b"/> name one existing file (the same device
    /// and inode, through symlinks and hard links). Always false on Windows.
    /// </summary>
    public static unsafe bool AreSameFile(string a, string b)
    {
        if (a is null)
        {
            throw new ArgumentNullException(nameof(a));
        }

        if (b is null)
        {
            throw new ArgumentNullException(nameof(b));
        }

        NativeLibraryCheck.EnsureCompatible();
        int same;
        fixed (byte* pa = NativeText.ToUtf8(a))
        fixed (byte* pb = NativeText.ToUtf8(b))
        {
            NativeStatus.Check(NativeMethods.svdq_path_same_file(pa, pb, &same));
        }

        return same != 0;
    }
}
