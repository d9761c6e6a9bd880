using System;
using System.Runtime.InteropServices;
using SvdQuant.Native;

namespace SvdQuant.Formats;

/// <summary>
/// Collects tensors and metadata and writes them as one safetensors file that any
/// safetensors reader accepts (sorted keys, 8-byte aligned header, aligned tensors).
/// </summary>
public sealed class SafeTensorsWriter : IDisposable
{
    private readonly SvdqSafetensorsWriterHandle _handle;

    /// <summary>Starts an empty file.</summary>
    public unsafe SafeTensorsWriter()
    {
        NativeLibraryCheck.EnsureCompatible();
        NativeStatus.Check(NativeMethods.svdq_safetensors_writer_create(out _handle));
    }

    /// <summary>Sets (or replaces) a <c>__metadata__</c> entry.</summary>
    public unsafe void SetMetadata(string key, string value)
    {
        SvdqSafetensorsWriterHandle writer = _handle.NotDisposed(nameof(SafeTensorsWriter));
        WriterArguments.SetMetadata(key, value, (k, v) => NativeMethods.svdq_safetensors_writer_set_metadata(writer, k, v));
    }

    /// <summary>Adds a tensor; its bytes are copied now.</summary>
    /// <param name="name">A key not added before.</param>
    /// <param name="dtype">The element type.</param>
    /// <param name="shape">The dimensions; empty for a scalar.</param>
    /// <param name="data">Exactly product(shape) elements of <paramref name="dtype"/>, little-endian.</param>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.ShapeMismatch"/> when the bytes do not fit dtype and shape, <see cref="StatusCode.InvalidArgument"/> for a name used twice.</exception>
    public unsafe void AddTensor(string name, TensorDType dtype, ReadOnlySpan<long> shape, ReadOnlySpan<byte> data)
    {
        SvdqSafetensorsWriterHandle writer = _handle.NotDisposed(nameof(SafeTensorsWriter));
        WriterArguments.AddTensor(name, dtype, shape, data, (n, type, dims, ndim, bytes, size) =>
            NativeMethods.svdq_safetensors_writer_add_tensor(writer, n, type, dims, ndim, bytes, size));
    }

    /// <summary>Adds an F32 tensor.</summary>
    public void AddTensor(string name, ReadOnlySpan<long> shape, ReadOnlySpan<float> values) =>
        AddTensor(name, TensorDType.F32, shape, MemoryMarshal.AsBytes(values));

    /// <summary>Writes the file; a failure never leaves a partial file at <paramref name="path"/>. May be called again.</summary>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.Io"/> when the file cannot be written; the message names it.</exception>
    public unsafe void Save(string path)
    {
        if (path is null)
        {
            throw new ArgumentNullException(nameof(path));
        }

        SvdqSafetensorsWriterHandle writer = _handle.NotDisposed(nameof(SafeTensorsWriter));
        fixed (byte* p = NativeText.ToUtf8(path))
        {
            NativeStatus.Check(NativeMethods.svdq_safetensors_writer_save(writer, p));
        }
    }

    /// <summary>Frees the collected tensors. Calling it again does nothing.</summary>
    public void Dispose() => _handle.Dispose();
}
