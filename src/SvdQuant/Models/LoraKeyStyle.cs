namespace SvdQuant.Models;

/// <summary>How a LoRA file names its modules (the engine detects it from the keys).</summary>
public enum LoraKeyStyle
{
    /// <summary>diffusers / PEFT: <c>[transformer.]&lt;module&gt;.lora_A.weight</c> / <c>lora_B.weight</c>, optional <c>&lt;module&gt;.alpha</c>.</summary>
    Diffusers = 0,

    /// <summary>kohya: <c>lora_unet_&lt;module_with_underscores&gt;.lora_down.weight</c> / <c>lora_up.weight</c> / <c>.alpha</c>.</summary>
    Kohya = 1,

    /// <summary>Black Forest Labs' original module names: <c>double_blocks.&lt;i&gt;.img_attn.qkv.lora_A.weight</c>, ...</summary>
    Bfl = 2,
}
