using System;

namespace SvdQuant.Quantization;

/// <summary>What <see cref="Quantizer"/> chose and how long each stage took.</summary>
public sealed class QuantizationReport
{
    internal QuantizationReport(float alpha, float beta, int candidates, int refineRounds, float calibrationError,
        TimeSpan search, TimeSpan svd, TimeSpan packing)
    {
        Alpha = alpha;
        Beta = beta;
        Candidates = candidates;
        RefineRounds = refineRounds;
        CalibrationError = calibrationError;
        Search = search;
        Svd = svd;
        Packing = packing;
    }

    /// <summary>The chosen activation exponent (0 without smoothing).</summary>
    public float Alpha { get; }

    /// <summary>The chosen weight exponent (0 without smoothing).</summary>
    public float Beta { get; }

    /// <summary>(alpha, beta) pairs scored.</summary>
    public int Candidates { get; }

    /// <summary>Low-rank refinement rounds kept.</summary>
    public int RefineRounds { get; }

    /// <summary>||Y - Y_float||_F / ||Y_float||_F of the created layers on the scoring tokens.</summary>
    public float CalibrationError { get; }

    /// <summary>Time of the smoothing grid search.</summary>
    public TimeSpan Search { get; }

    /// <summary>Time of the final low-rank SVDs and refinement.</summary>
    public TimeSpan Svd { get; }

    /// <summary>Time of residual quantization and kernel packing.</summary>
    public TimeSpan Packing { get; }
}
