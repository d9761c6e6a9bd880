namespace SvdQuant;

/// <summary>The native engine's status codes, as carried by <see cref="SvdQuantException.Status"/>.</summary>
public enum StatusCode
{
    /// <summary>Success; never carried by an exception.</summary>
    Ok = 0,

    /// <summary>A missing or out-of-range argument.</summary>
    InvalidArgument = 1,

    /// <summary>Tensor shapes do not fit together.</summary>
    ShapeMismatch = 2,

    /// <summary>A tensor has an element type the call does not take.</summary>
    DType = 3,

    /// <summary>NaN or infinity where finite numbers are required.</summary>
    NonFinite = 4,

    /// <summary>The engine could not allocate memory.</summary>
    OutOfMemory = 5,

    /// <summary>A backend or feature this build or machine lacks, or a native library of another ABI version.</summary>
    Unsupported = 6,

    /// <summary>A file could not be opened, read or written.</summary>
    Io = 7,

    /// <summary>A file is corrupt or not in the expected format.</summary>
    Format = 8,

    /// <summary>A progress callback asked to stop.</summary>
    Cancelled = 9,

    /// <summary>A bug in the engine; please report it with the message.</summary>
    Internal = 10,
}
