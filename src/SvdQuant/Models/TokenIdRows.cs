using System;

namespace SvdQuant.Models;

/// <summary>Checks the row-major [B, L] token id arrays the text encoders take.</summary>
internal static class TokenIdRows
{
    /// <summary>L, once <paramref name="ids"/> is a non-empty whole number of <paramref name="batch"/> rows.</summary>
    public static int LengthOf(int[] ids, int batch, string name)
    {
        if (ids is null)
        {
            throw new ArgumentNullException(name);
        }

        if (batch < 1 || ids.Length == 0 || ids.Length % batch != 0)
        {
            throw new ArgumentException($"{name} holds {ids.Length} ids, which are not {batch} non-empty rows of equal length", name);
        }

        return ids.Length / batch;
    }
}
