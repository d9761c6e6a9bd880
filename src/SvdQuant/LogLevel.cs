namespace SvdQuant;

/// <summary>Severity of an engine log message.</summary>
public enum LogLevel
{
    /// <summary>Details for debugging the engine.</summary>
    Debug = 0,

    /// <summary>Normal events, such as the configuration an engine starts with.</summary>
    Info = 1,

    /// <summary>Something unexpected that the engine worked around.</summary>
    Warning = 2,

    /// <summary>A failure.</summary>
    Error = 3,
}
