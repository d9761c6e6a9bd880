namespace SvdQuant.Formats;

/// <summary>Element types of checkpoint tensors, named as safetensors names them.</summary>
public enum TensorDType
{
    /// <summary>32-bit IEEE float.</summary>
    F32 = 0,

    /// <summary>16-bit IEEE float.</summary>
    F16 = 1,

    /// <summary>bfloat16.</summary>
    BF16 = 2,

    /// <summary>Signed 8-bit integer (Nunchaku's packed 4-bit weights).</summary>
    I8 = 3,

    /// <summary>Unsigned 8-bit integer.</summary>
    U8 = 4,

    /// <summary>Signed 32-bit integer (AWQ-packed 4-bit weights).</summary>
    I32 = 5,

    /// <summary>Signed 64-bit integer.</summary>
    I64 = 6,

    /// <summary>64-bit IEEE float.</summary>
    F64 = 7,

    /// <summary>Signed 16-bit integer.</summary>
    I16 = 8,

    /// <summary>One byte, 0 or 1.</summary>
    Bool = 9,

    /// <summary>FP8 E4M3 (no infinities): NVFP4 group scales.</summary>
    F8E4M3 = 10,

    /// <summary>FP8 E5M2.</summary>
    F8E5M2 = 11,
}
