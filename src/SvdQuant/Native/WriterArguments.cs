using System;
using SvdQuant.Formats;

namespace SvdQuant.Native;

/// <summary>
/// SetMetadata and AddTensor of <see cref="SafeTensorsWriter"/> and <see cref="SafeTensorsStreamWriter"/>:
/// the same checks and pinning around a native call that differs only in the writer it names.
/// </summary>
internal static unsafe class WriterArguments
{
    public delegate svdq_status MetadataCall(byte* key, byte* value);

    public delegate svdq_status TensorCall(byte* name, int dtype, long* shape, int ndim, byte* data, ulong sizeBytes);

    public static void SetMetadata(string key, string value, MetadataCall call)
    {
        if (key is null)
        {
            throw new ArgumentNullException(nameof(key));
        }

        if (value is null)
        {
            throw new ArgumentNullException(nameof(value));
        }

        fixed (byte* k = NativeText.ToUtf8(key))
        fixed (byte* v = NativeText.ToUtf8(value))
        {
            NativeStatus.Check(call(k, v));
        }
    }

    public static void AddTensor(string name, TensorDType dtype, ReadOnlySpan<long> shape, ReadOnlySpan<byte> data, TensorCall call)
    {
        if (name is null)
        {
            throw new ArgumentNullException(nameof(name));
        }

        fixed (byte* n = NativeText.ToUtf8(name))
        fixed (long* dims = &Pin.Ref(shape))
        fixed (byte* bytes = &Pin.Ref(data))
        {
            NativeStatus.Check(call(n, (int)dtype, dims, shape.Length, bytes, (ulong)data.Length));
        }
    }
}
