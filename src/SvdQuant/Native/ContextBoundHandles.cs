namespace SvdQuant.Native;

// Completes the generated handles of the objects made on a context: their native memory belongs to the
// context's backend and is freed through it, so each keeps its context alive until it is destroyed; an
// Engine disposed before its models no longer frees the backend under them.

internal sealed partial class SvdqLinearHandle
{
    private HandleReference _context;

    public void HoldContext(SvdqContextHandle context) => _context.Take(context);

    partial void AfterDestroy() => _context.Return();
}

internal sealed partial class SvdqFluxHandle
{
    private HandleReference _context;

    public void HoldContext(SvdqContextHandle context) => _context.Take(context);

    partial void AfterDestroy() => _context.Return();
}

internal sealed partial class SvdqVaeHandle
{
    private HandleReference _context;

    public void HoldContext(SvdqContextHandle context) => _context.Take(context);

    partial void AfterDestroy() => _context.Return();
}

internal sealed partial class SvdqClipHandle
{
    private HandleReference _context;

    public void HoldContext(SvdqContextHandle context) => _context.Take(context);

    partial void AfterDestroy() => _context.Return();
}

internal sealed partial class SvdqT5Handle
{
    private HandleReference _context;

    public void HoldContext(SvdqContextHandle context) => _context.Take(context);

    partial void AfterDestroy() => _context.Return();
}
