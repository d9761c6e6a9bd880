using System;

namespace SvdQuant;

/// <summary>A failure reported by the native engine.</summary>
public sealed class SvdQuantException : Exception
{
    /// <summary>Creates an exception for a native status and the engine's message.</summary>
    /// <param name="status">The status the engine returned.</param>
    /// <param name="message">The engine's description of the failure.</param>
    public SvdQuantException(StatusCode status, string message)
        : base(message)
    {
        Status = status;
    }

    /// <summary>The status the engine returned.</summary>
    public StatusCode Status { get; }
}
