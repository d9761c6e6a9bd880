using System;
using SvdQuant.Native;

namespace SvdQuant.Formats;

/// <summary>
/// Writes one safetensors file without holding its tensors, for files larger than memory: each
/// tensor's bytes go to a temporary beside the target as it is added, and <see cref="Finish"/> writes
/// the file (byte for byte what <see cref="SafeTensorsWriter"/> saves for the same tensors and
/// metadata) and renames it into place. Disk needs twice the data while finishing. Disposing an
/// unfinished writer removes its temporaries and leaves the target as it was.
/// </summary>
public sealed class SafeTensorsStreamWriter : IDisposable
{
    private readonly SvdqSafetensorsStreamWriterHandle _handle;

    /// <summary>Starts writing <paramref name="path"/>.</summary>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.Io"/> when its folder cannot be written.</exception>
    public unsafe SafeTensorsStreamWriter(string path)
    {
        if (path is null)
        {
            throw new ArgumentNullException(nameof(path));
        }

        NativeLibraryCheck.EnsureCompatible();
        fixed (byte* p = NativeText.ToUtf8(path))
        {
            NativeStatus.Check(NativeMethods.svdq_safetensors_stream_writer_create(p, out _handle));
        }
    }

    /// <summary>Sets (or replaces) a <c>__metadata__</c> entry, any time before <see cref="Finish"/>.</summary>
    public unsafe void SetMetadata(string key, string value)
    {
        SvdqSafetensorsStreamWriterHandle writer = _handle.NotDisposed(nameof(SafeTensorsStreamWriter));
        WriterArguments.SetMetadata(key, value, (k, v) => NativeMethods.svdq_safetensors_stream_writer_set_metadata(writer, k, v));
    }

    /// <summary>Adds a tensor; its bytes are written out now, so <paramref name="data"/> may be reused at once.</summary>
    /// <param name="name">A key not added before.</param>
    /// <param name="dtype">The element type.</param>
    /// <param name="shape">The dimensions; empty for a scalar.</param>
    /// <param name="data">Exactly product(shape) elements of <paramref name="dtype"/>, little-endian.</param>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.ShapeMismatch"/> when the bytes do not fit dtype and shape, <see cref="StatusCode.InvalidArgument"/> for a name used twice or a finished writer, <see cref="StatusCode.Io"/> when the disk refuses.</exception>
    public unsafe void AddTensor(string name, TensorDType dtype, ReadOnlySpan<long> shape, ReadOnlySpan<byte> data)
    {
        SvdqSafetensorsStreamWriterHandle writer = _handle.NotDisposed(nameof(SafeTensorsStreamWriter));
        WriterArguments.AddTensor(name, dtype, shape, data, (n, type, dims, ndim, bytes, size) =>
            NativeMethods.svdq_safetensors_stream_writer_add_tensor(writer, n, type, dims, ndim, bytes, size));
    }

    /// <summary>Writes the file and renames it into place; once only. A failure leaves neither file nor temporaries.</summary>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.Io"/> when the file cannot be written (the message names it), <see cref="StatusCode.InvalidArgument"/> when already finished.</exception>
    public void Finish() => NativeStatus.Check(NativeMethods.svdq_safetensors_stream_writer_finish(_handle.NotDisposed(nameof(SafeTensorsStreamWriter))));

    /// <summary>Removes the temporaries of an unfinished file. Calling it again does nothing.</summary>
    public void Dispose() => _handle.Dispose();
}
