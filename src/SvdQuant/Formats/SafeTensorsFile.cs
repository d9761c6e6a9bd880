using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using SvdQuant.Models;
using SvdQuant.Native;

namespace SvdQuant.Formats;

/// <summary>
/// A safetensors checkpoint, memory-mapped read-only by the native engine. The whole
/// header is validated when the file opens, so a corrupt file fails here with a message
/// that names the file and the tensor. Tensor data is never copied until asked for.
/// </summary>
public sealed class SafeTensorsFile : IDisposable
{
    private readonly SvdqSafetensorsHandle _handle;
    private readonly Dictionary<string, TensorInfo> _byName;

    private SafeTensorsFile(SvdqSafetensorsHandle handle, string path)
    {
        _handle = handle;
        Path = path;
        svdq_safetensors_info info = ReadInfo(handle);
        FileSize = checked((long)info.file_bytes);
        Metadata = new ReadOnlyDictionary<string, string>(ReadMetadata(handle, info.metadata_count));
        var tensors = ReadTensors(handle, info.tensor_count);
        Tensors = tensors;
        _byName = new Dictionary<string, TensorInfo>(tensors.Count, StringComparer.Ordinal);
        foreach (TensorInfo t in tensors)
        {
            _byName.Add(t.Name, t);
        }
    }

    /// <summary>The path the file was opened with.</summary>
    public string Path { get; }

    /// <summary>The size of the file in bytes.</summary>
    public long FileSize { get; }

    /// <summary>The header's <c>__metadata__</c> entries (for Nunchaku files: config, quantization_config, ...).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Every tensor, in name order.</summary>
    public IReadOnlyList<TensorInfo> Tensors { get; }

    /// <summary>Opens and validates a safetensors file.</summary>
    /// <param name="path">The file; UTF-8 paths of any script work.</param>
    /// <returns>The open file; dispose it to unmap it.</returns>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.Io"/> when it cannot be read; <see cref="StatusCode.Format"/> or <see cref="StatusCode.DType"/> when its header is invalid. The message names the file and the tensor.</exception>
    public static unsafe SafeTensorsFile Open(string path)
    {
        if (path is null)
        {
            throw new ArgumentNullException(nameof(path));
        }

        NativeLibraryCheck.EnsureCompatible();
        SvdqSafetensorsHandle file;
        fixed (byte* utf8 = NativeText.ToUtf8(path))
        {
            NativeStatus.Check(NativeMethods.svdq_safetensors_open(utf8, out file));
        }

        return OwnedHandle.Adopt(file, handle => new SafeTensorsFile(handle, path));
    }

    /// <summary>The tensor called <paramref name="name"/>, or false when the file has none.</summary>
    public bool TryGetTensor(string name, out TensorInfo tensor)
    {
        if (_byName.TryGetValue(name, out TensorInfo? found))
        {
            tensor = found;
            return true;
        }

        tensor = null!;
        return false;
    }

    /// <summary>The tensor called <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">The file has no such tensor; the message names file and tensor.</exception>
    public TensorInfo GetTensor(string name) =>
        TryGetTensor(name, out TensorInfo tensor) ? tensor
        : throw new KeyNotFoundException($"{Path}: tensor '{name}' is missing");

    /// <summary>
    /// The tensor's bytes, straight from the mapped file (no copy). The span is valid only
    /// while this file is open: do not keep it past <see cref="Dispose"/>.
    /// </summary>
    /// <exception cref="KeyNotFoundException">The file has no such tensor.</exception>
    /// <exception cref="ObjectDisposedException">The file was disposed.</exception>
    public unsafe ReadOnlySpan<byte> GetData(string name)
    {
        TensorInfo tensor = GetTensor(name);
        svdq_safetensors_tensor native = ReadTensor(_handle.NotDisposed(nameof(SafeTensorsFile)), tensor.Index);
        return new ReadOnlySpan<byte>(native.data, checked((int)native.size_bytes));
    }

    /// <summary>Copies the tensor's bytes into <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is not exactly <see cref="TensorInfo.ByteSize"/> long.</exception>
    public void CopyData(string name, Span<byte> destination)
    {
        TensorInfo tensor = GetTensor(name);
        if (destination.Length != tensor.ByteSize)
        {
            throw new ArgumentException($"Tensor '{name}' holds {tensor.ByteSize} bytes but the destination has {destination.Length}.", nameof(destination));
        }

        GetData(name).CopyTo(destination);
    }

    /// <summary>A float tensor (F32, F16, BF16, F64, F8E4M3, F8E5M2) widened to a new float array.</summary>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.DType"/> for a non-float tensor.</exception>
    public float[] ReadFloats(string name)
    {
        var values = new float[GetTensor(name).ElementCount];
        ReadFloats(name, values);
        return values;
    }

    /// <summary>A float tensor widened to float into <paramref name="destination"/>, which must hold exactly its elements.</summary>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.DType"/> for a non-float tensor, <see cref="StatusCode.ShapeMismatch"/> for a destination of another length.</exception>
    public unsafe void ReadFloats(string name, Span<float> destination)
    {
        TensorInfo tensor = GetTensor(name);
        SvdqSafetensorsHandle file = _handle.NotDisposed(nameof(SafeTensorsFile));
        fixed (float* values = destination)
        {
            NativeStatus.Check(NativeMethods.svdq_safetensors_read_f32(file, tensor.Index, values, (ulong)destination.Length));
        }
    }

    /// <summary>
    /// Tells what kind of checkpoint this is and checks that every layer the kind implies is
    /// complete: a missing or misshapen tensor throws with the file and the tensor named.
    /// </summary>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.Format"/> or <see cref="StatusCode.DType"/> for an incomplete or inconsistent checkpoint.</exception>
    public unsafe CheckpointInfo DetectFlavour()
    {
        svdq_checkpoint_info info = default;
        info.struct_size = (uint)sizeof(svdq_checkpoint_info);
        NativeStatus.Check(NativeMethods.svdq_checkpoint_inspect(_handle.NotDisposed(nameof(SafeTensorsFile)), &info));

        return new CheckpointInfo(
            (CheckpointFlavour)info.flavour,
            (NumberFormat)info.format,
            (CheckpointKeys)info.keys,
            info.w4a4_layers,
            info.w4a16_layers,
            info.rank,
            checked((long)info.parameter_count));
    }

    /// <summary>Unmaps the file. Spans from <see cref="GetData"/> must not be used afterwards. Calling it again does nothing.</summary>
    public void Dispose() => _handle.Dispose();

    private static unsafe svdq_safetensors_info ReadInfo(SvdqSafetensorsHandle handle)
    {
        svdq_safetensors_info info = default;
        info.struct_size = (uint)sizeof(svdq_safetensors_info);
        NativeStatus.Check(NativeMethods.svdq_safetensors_get_info(handle, &info));
        return info;
    }

    private static unsafe svdq_safetensors_tensor ReadTensor(SvdqSafetensorsHandle file, long index)
    {
        svdq_safetensors_tensor tensor = default;
        tensor.struct_size = (uint)sizeof(svdq_safetensors_tensor);
        NativeStatus.Check(NativeMethods.svdq_safetensors_get_tensor(file, index, &tensor));
        return tensor;
    }

    private static unsafe Dictionary<string, string> ReadMetadata(SvdqSafetensorsHandle handle, long count)
    {
        var metadata = new Dictionary<string, string>(checked((int)count), StringComparer.Ordinal);
        for (long i = 0; i < count; i++)
        {
            byte* key;
            byte* value;
            NativeStatus.Check(NativeMethods.svdq_safetensors_get_metadata(handle, i, &key, &value));
            metadata.Add(NativeText.FromUtf8(key), NativeText.FromUtf8(value));
        }

        return metadata;
    }

    private static unsafe List<TensorInfo> ReadTensors(SvdqSafetensorsHandle handle, long count)
    {
        var tensors = new List<TensorInfo>(checked((int)count));
        for (long i = 0; i < count; i++)
        {
            svdq_safetensors_tensor t = ReadTensor(handle, i);
            var shape = new long[t.ndim];
            for (int d = 0; d < t.ndim; d++)
            {
                shape[d] = t.shape[d];
            }

            tensors.Add(new TensorInfo(i, NativeText.FromUtf8(t.name), (TensorDType)t.dtype, Array.AsReadOnly(shape), checked((long)t.size_bytes)));
        }

        return tensors;
    }
}
