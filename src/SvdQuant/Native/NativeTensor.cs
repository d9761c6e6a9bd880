using System;

namespace SvdQuant.Native;

/// <summary>
/// Wraps pinned managed memory as native F32 tensors (no copy). Callers pin with
/// <c>fixed</c> and dispose the tensor before the pin ends.
/// </summary>
internal static unsafe class NativeTensor
{
    /// <summary>A tensor over <paramref name="length"/> floats at <paramref name="data"/> with the given row-major shape.</summary>
    public static TensorHandle WrapF32(float* data, int length, ReadOnlySpan<long> shape)
    {
        IntPtr tensor;
        fixed (long* dims = shape)
        {
            NativeStatus.Check(NativeMethods.svdq_tensor_wrap(
                (int)svdq_dtype.SVDQ_DTYPE_F32, dims, shape.Length, data, (ulong)length * sizeof(float), &tensor));
        }

        return new TensorHandle(tensor);
    }

    /// <summary>The native pointer of an optional tensor, NULL when absent.</summary>
    public static IntPtr PointerOf(TensorHandle? tensor) => tensor?.DangerousGetHandle() ?? IntPtr.Zero;
}
