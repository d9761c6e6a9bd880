namespace SvdQuant.Formats;

/// <summary>What kind of checkpoint a safetensors file holds, told from its keys, dtypes and metadata.</summary>
public enum CheckpointFlavour
{
    /// <summary>A valid safetensors file of no known layout.</summary>
    Unknown = 0,

    /// <summary>Float weights with diffusers' FLUX names (a whole model or one shard).</summary>
    DiffusersFloat = 1,

    /// <summary>Nunchaku INT4 with FLUX v0 names (qkv_proj, mlp_fc1, lora_down, smooth).</summary>
    NunchakuInt4V0 = 2,

    /// <summary>Nunchaku NVFP4 with FLUX v0 names.</summary>
    NunchakuNvfp4V0 = 3,

    /// <summary>Nunchaku INT4 with diffusers-style names (attn.to_qkv, proj_down, smooth_factor).</summary>
    NunchakuInt4Diffusers = 4,

    /// <summary>Nunchaku NVFP4 with diffusers-style names.</summary>
    NunchakuNvfp4Diffusers = 5,

    /// <summary>Written by this engine: Nunchaku's layout, marked as ours in the metadata.</summary>
    SvdQuant = 6,
}

/// <summary>How a Nunchaku checkpoint names its layers' tensors.</summary>
public enum CheckpointKeys
{
    /// <summary>Not a Nunchaku checkpoint.</summary>
    None = 0,

    /// <summary>lora_down, lora_up, smooth.</summary>
    NunchakuV0 = 1,

    /// <summary>proj_down, proj_up, smooth_factor.</summary>
    Diffusers = 2,
}
