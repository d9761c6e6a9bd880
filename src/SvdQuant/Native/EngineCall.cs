using System;

namespace SvdQuant.Native;

/// <summary>
/// One native call on an <see cref="Engine"/>: marks the engine busy until disposed (see <see cref="Engine.Enter"/>).
/// The only way to reach an engine's native context, so every call that uses it goes through the busy check.
/// </summary>
internal readonly ref struct EngineCall
{
    private readonly Engine _engine;

    internal EngineCall(Engine engine, SvdqContextHandle context)
    {
        _engine = engine;
        Context = context;
    }

    /// <summary>The native context; the marshaller keeps it alive while a call uses it.</summary>
    public SvdqContextHandle Context { get; }

    public void Dispose() => _engine.Exit();
}
