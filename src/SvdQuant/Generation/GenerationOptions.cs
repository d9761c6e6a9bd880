namespace SvdQuant.Generation;

/// <summary>
/// How <see cref="FluxGenerator"/> samples: image size, steps, guidance, sampler, seed and the
/// rarer knobs. The engine checks them against the model in <see cref="FluxGenerator.Create"/>,
/// which copies them: changing an instance afterwards does not change a generator made from it.
/// </summary>
public sealed class GenerationOptions
{
    /// <summary>Image width in pixels, rounded down to a multiple of 16 as FluxPipeline does (at least 16).</summary>
    public int Width { get; set; } = 1024;

    /// <summary>Image height in pixels, rounded down to a multiple of 16 (at least 16).</summary>
    public int Height { get; set; } = 1024;

    /// <summary>Sampling steps, at least 1; ignored when <see cref="Sigmas"/> are given.</summary>
    public int Steps { get; set; } = 28;

    /// <summary>The embedded guidance scale of FLUX.1-dev-style models; a model without a guidance embedding ignores it (and says so in <see cref="GenerationResult.GuidanceIgnored"/>).</summary>
    public float Guidance { get; set; } = 3.5f;

    /// <summary>True classifier-free guidance scale: 1 is off; above 1 needs <see cref="GenerationInputs.Negative"/> and runs two passes per step.</summary>
    public float TrueCfgScale { get; set; } = 1f;

    /// <summary>The sampler.</summary>
    public FluxSampler Sampler { get; set; } = FluxSampler.Euler;

    /// <summary>Seeds the initial noise (Philox4x32-10 Gaussian: the same bits on every platform) and Euler-ancestral's noise.</summary>
    public ulong Seed { get; set; }

    /// <summary>Image-to-image: the share of the schedule that runs from <see cref="GenerationInputs.InitLatents"/>, in [0, 1]; 1 starts from pure noise, 0 runs no step and returns the init latents.</summary>
    public float Strength { get; set; } = 1f;

    /// <summary>First-block cache threshold (relative change of the first block's residual below which the other blocks are skipped); 0 is off and bit-identical to no cache.</summary>
    public float CacheThreshold { get; set; }

    /// <summary>A static schedule shift instead of the model's schedule (scheduler_config.json, else FLUX.1-dev's dynamic shift with a guidance embedding and none without); null keeps the model's.</summary>
    public float? Shift { get; set; }

    /// <summary>Euler-ancestral's share of ancestral noise, in [0, 1].</summary>
    public float Eta { get; set; } = 1f;

    /// <summary>Base sigmas to use instead of the linspace(1, 1/N, N) schedule: strictly decreasing, in (0, 1]; shifted like the default ones, 0 appended. Null: the default schedule.</summary>
    public float[]? Sigmas { get; set; }

    /// <summary>
    /// The scheduler_config.json that decides the schedule; null (default) finds it beside the model
    /// (<c>scheduler/</c> in its folder or its parent's) or takes the model's defaults. A pipeline
    /// whose transformer file is kept outside the folder names the folder's here.
    /// </summary>
    public string? SchedulerConfig { get; set; }

    // A run that fills in what the caller left to the pipeline without changing the caller's object.
    internal GenerationOptions Copy() => (GenerationOptions)MemberwiseClone();
}
