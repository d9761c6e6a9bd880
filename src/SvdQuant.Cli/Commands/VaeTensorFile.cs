using System.Linq;
using SvdQuant.Formats;

namespace SvdQuant.Cli.Commands;

/// <summary>The one tensor a <c>svdquant vae</c> command reads: named, float, [B, C, H, W].</summary>
internal static class VaeTensorFile
{
    /// <summary>
    /// <paramref name="name"/> from <paramref name="path"/> as float with its shape. A missing key
    /// (<see cref="StatusCode.Format"/>), a dtype other than F32, F16 or BF16 (<see cref="StatusCode.DType"/>) or
    /// a rank other than 4 (<see cref="StatusCode.ShapeMismatch"/>) throws naming the file and the tensor;
    /// the VAE checks the rest.
    /// </summary>
    public static (float[] Values, long[] Shape) Read(string path, string name, string expected)
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        if (!file.TryGetTensor(name, out TensorInfo tensor))
        {
            throw new SvdQuantException(StatusCode.Format, $"{path}: missing tensor '{name}' {expected}");
        }

        if (tensor.DType is not (TensorDType.F32 or TensorDType.F16 or TensorDType.BF16))
        {
            throw new SvdQuantException(StatusCode.DType, $"{path}: {name} is {tensor.DType}; the VAE takes F32, F16 or BF16");
        }

        if (tensor.Shape.Count != 4)
        {
            throw new SvdQuantException(
                StatusCode.ShapeMismatch, $"{path}: {name} is [{string.Join(", ", tensor.Shape)}], it must be {expected}");
        }

        return (file.ReadFloats(name), tensor.Shape.ToArray());
    }
}
