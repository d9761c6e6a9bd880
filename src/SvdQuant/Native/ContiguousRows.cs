using System;
using CommunityToolkit.HighPerformance;

namespace SvdQuant.Native;

/// <summary>Gives 2-D spans the gap-free row-major layout native tensors need.</summary>
internal static class ContiguousRows
{
    /// <summary>The elements of <paramref name="matrix"/> without gaps: its own memory when it has no pitch, otherwise a copy.</summary>
    public static ReadOnlySpan<float> Of(ReadOnlySpan2D<float> matrix)
    {
        if (matrix.TryGetSpan(out ReadOnlySpan<float> dense))
        {
            return dense;
        }

        var copy = new float[matrix.Length];
        matrix.CopyTo(copy);
        return copy;
    }
}
