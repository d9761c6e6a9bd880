namespace SvdQuant.Generation;

/// <summary>The sampler that integrates the flow-matching ODE from noise to latents.</summary>
public enum FluxSampler
{
    /// <summary>FlowMatchEulerDiscreteScheduler's step: x += (sigma_next - sigma) v. One evaluation per step.</summary>
    Euler,

    /// <summary>Heun's second-order method: an Euler predictor, then the average of both velocities (two evaluations per step, one on the last).</summary>
    Heun,

    /// <summary>DPM-Solver++(2M) in its flow-matching form: second order from the previous step's estimate, one evaluation per step.</summary>
    DpmPlusPlus2M,

    /// <summary>Euler-ancestral: an Euler step to a lower sigma plus fresh seeded noise (<see cref="GenerationOptions.Eta"/> of it).</summary>
    EulerAncestral,
}
