using System.Collections.Generic;
using System.Linq;

namespace SvdQuant.Formats;

/// <summary>One tensor of a <see cref="SafeTensorsFile"/>.</summary>
public sealed class TensorInfo
{
    internal TensorInfo(long index, string name, TensorDType dtype, IReadOnlyList<long> shape, long byteSize)
    {
        Index = index;
        Name = name;
        DType = dtype;
        Shape = shape;
        ByteSize = byteSize;
    }

    /// <summary>The tensor's key in the file.</summary>
    public string Name { get; }

    /// <summary>Its element type.</summary>
    public TensorDType DType { get; }

    /// <summary>Its dimensions, outermost first; empty for a scalar.</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>The bytes its data occupies in the file.</summary>
    public long ByteSize { get; }

    /// <summary>The number of elements: the product of <see cref="Shape"/>.</summary>
    public long ElementCount => Shape.Aggregate(1L, (product, dim) => product * dim);

    /// <summary>Whether <see cref="SafeTensorsFile.ReadFloats(string)"/> can widen it to float.</summary>
    public bool IsFloat => DType is TensorDType.F32 or TensorDType.F16 or TensorDType.BF16 or TensorDType.F64
        or TensorDType.F8E4M3 or TensorDType.F8E5M2;

    internal long Index { get; }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {DType} [{string.Join(", ", Shape)}]";
}
