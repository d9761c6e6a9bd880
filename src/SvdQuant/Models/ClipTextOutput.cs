namespace SvdQuant.Models;

/// <summary>What <see cref="ClipTextEncoder.Encode"/> computes for B rows of L ids.</summary>
public sealed class ClipTextOutput
{
    internal ClipTextOutput(float[] lastHiddenState, float[] pooled, int batch, int length)
    {
        LastHiddenState = lastHiddenState;
        Pooled = pooled;
        Batch = batch;
        Length = length;
    }

    /// <summary>[B, L, hidden_size], row-major: the final LayerNorm's output.</summary>
    public float[] LastHiddenState { get; }

    /// <summary>[B, hidden_size]: each row's final state at its EOS position (FLUX's pooled_projections).</summary>
    public float[] Pooled { get; }

    /// <summary>B.</summary>
    public int Batch { get; }

    /// <summary>L.</summary>
    public int Length { get; }
}
