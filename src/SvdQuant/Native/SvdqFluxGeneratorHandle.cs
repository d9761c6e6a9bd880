namespace SvdQuant.Native;

/// <summary>Completes the generated generator handle: it keeps its model's native object alive.</summary>
internal sealed partial class SvdqFluxGeneratorHandle
{
    // The native generator refers to the model, which must outlive it: disposing the
    // FluxTransformer first defers the model's destruction.
    private HandleReference _model;

    public void HoldModel(SvdqFluxHandle model) => _model.Take(model);

    partial void AfterDestroy() => _model.Return();
}
