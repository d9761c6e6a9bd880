using System;

namespace SvdQuant.Native;

/// <summary>
/// Wraps pinned managed memory as native F32 (or I32 id) tensors (no copy). Callers pin with
/// <c>fixed</c> and dispose the tensor before the pin ends.
/// </summary>
internal static unsafe class NativeTensor
{
    /// <summary>An empty handle, which native calls receive as NULL (an absent optional tensor). Never disposed.</summary>
    public static SvdqTensorHandle None { get; } = new();

    /// <summary>A tensor over <paramref name="length"/> floats at <paramref name="data"/> with the given row-major shape.</summary>
    public static SvdqTensorHandle WrapF32(float* data, int length, ReadOnlySpan<long> shape)
    {
        SvdqTensorHandle tensor;
        fixed (long* dims = &Pin.Ref(shape))
        {
            NativeStatus.Check(NativeMethods.svdq_tensor_wrap(
                (int)svdq_dtype.SVDQ_DTYPE_F32, dims, shape.Length, data, (ulong)length * sizeof(float), out tensor));
        }

        return tensor;
    }

    /// <summary>A tensor over <paramref name="length"/> 32-bit integers (token ids) at <paramref name="data"/> with the given row-major shape.</summary>
    public static SvdqTensorHandle WrapI32(int* data, int length, ReadOnlySpan<long> shape)
    {
        SvdqTensorHandle tensor;
        fixed (long* dims = &Pin.Ref(shape))
        {
            NativeStatus.Check(NativeMethods.svdq_tensor_wrap(
                (int)svdq_dtype.SVDQ_DTYPE_I32, dims, shape.Length, data, (ulong)length * sizeof(int), out tensor));
        }

        return tensor;
    }

    /// <summary>The native pointer of an optional tensor for a struct field, NULL when absent; the caller keeps the tensor alive.</summary>
    public static IntPtr PointerOf(SvdqTensorHandle? tensor) => tensor?.DangerousGetHandle() ?? IntPtr.Zero;

    /// <summary>The tensor, or <see cref="None"/> (NULL) when absent.</summary>
    public static SvdqTensorHandle OrNone(this SvdqTensorHandle? tensor) => tensor ?? None;
}
