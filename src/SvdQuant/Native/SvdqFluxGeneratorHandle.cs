namespace SvdQuant.Native;

/// <summary>Completes the generated generator handle: it keeps its model's native object alive.</summary>
internal sealed partial class SvdqFluxGeneratorHandle
{
    // The native generator refers to the model, which must outlive it: a reference taken at
    // creation (DangerousAddRef) and given back only after the generator is destroyed, so
    // disposing the FluxTransformer first defers the model's destruction.
    private SvdqFluxHandle? _model;

    /// <summary>Releases <paramref name="model"/>, on which the caller took a reference, once the generator is destroyed.</summary>
    public void ReleaseAfterDestroy(SvdqFluxHandle model) => _model = model;

    partial void AfterDestroy() => _model?.DangerousRelease();
}
