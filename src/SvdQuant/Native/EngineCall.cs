using System;

namespace SvdQuant.Native;

/// <summary>
/// One native call on an <see cref="Engine"/>: keeps its context alive and marks the engine busy
/// until disposed (see <see cref="Engine.Enter"/>).
/// </summary>
internal readonly ref struct EngineCall
{
    private readonly Engine _engine;
    private readonly HandleLease _context;

    internal EngineCall(Engine engine, HandleLease context)
    {
        _engine = engine;
        _context = context;
    }

    /// <summary>The native context pointer, valid until the call is disposed.</summary>
    public IntPtr Pointer => _context.Pointer;

    public void Dispose()
    {
        _context.Dispose();
        _engine.Exit();
    }
}
