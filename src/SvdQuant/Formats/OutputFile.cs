using System;
using SvdQuant.Native;

namespace SvdQuant.Formats;

/// <summary>Checks a path an output will be written to, before the work that makes the output.</summary>
public static class OutputFile
{
    /// <summary>
    /// Throws unless a file could be written to <paramref name="path"/> now, as the engine writes every
    /// file: its folder must exist and take a new file, and the path must not be a symlink, directory,
    /// device or pipe, or a file the engine has open as an input. Leaves <paramref name="path"/> as it was.
    /// A long run (a generation, a quantization) checks its outputs first, so that a mistyped path fails
    /// at once instead of after the work.
    /// </summary>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.Io"/> naming the path and the reason.</exception>
    public static unsafe void EnsureWritable(string path)
    {
        if (path is null)
        {
            throw new ArgumentNullException(nameof(path));
        }

        NativeLibraryCheck.EnsureCompatible();
        fixed (byte* utf8 = NativeText.ToUtf8(path))
        {
            NativeStatus.Check(NativeMethods.svdq_file_check_writable(utf8));
        }
    }
}
