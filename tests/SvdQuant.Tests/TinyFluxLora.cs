using System.Collections.Generic;
using System.Linq;
using SvdQuant.Models;
using static SvdQuant.Tests.TestLoras;

namespace SvdQuant.Tests;

/// <summary>
/// One LoRA on flux-tiny written in each published key style, every form adding the same weight deltas:
/// double block 0's q/k/v (diffusers: three modules; kohya/BFL: one fused qkv module), double block 1's
/// image-MLP down-projection, single block 0's q/k/v and MLP up-projection (kohya/BFL: one fused
/// linear1), single block 1's proj_out over [attention, MLP] columns (kohya/BFL: linear2), and the image
/// embedder (a float linear in every model). Scales are powers of two (2, 0.5, 1 by default alpha), so
/// folding them into a fused module's up matrix is exact.
/// </summary>
internal static class TinyFluxLora
{
    // Seeds make each module's factors distinct and reproducible.
    private static readonly TestLoraModule Q = Module("transformer_blocks.0.attn.to_q", 4, Inner, Inner, alpha: 8, seed: 1);
    private static readonly TestLoraModule K = Module("transformer_blocks.0.attn.to_k", 4, Inner, Inner, alpha: 8, seed: 2);
    private static readonly TestLoraModule V = Module("transformer_blocks.0.attn.to_v", 4, Inner, Inner, alpha: 8, seed: 3);
    private static readonly TestLoraModule Fc2 = Module("transformer_blocks.1.ff.net.2", 4, Mlp, Inner, alpha: 2, seed: 4);
    private static readonly TestLoraModule SingleQ = Module("single_transformer_blocks.0.attn.to_q", 2, Inner, Inner, alpha: null, seed: 5);
    private static readonly TestLoraModule SingleK = Module("single_transformer_blocks.0.attn.to_k", 2, Inner, Inner, alpha: null, seed: 6);
    private static readonly TestLoraModule SingleV = Module("single_transformer_blocks.0.attn.to_v", 2, Inner, Inner, alpha: null, seed: 7);
    private static readonly TestLoraModule SingleMlp = Module("single_transformer_blocks.0.proj_mlp", 2, Inner, Mlp, alpha: null, seed: 8);
    private static readonly TestLoraModule SingleOut = Module("single_transformer_blocks.1.proj_out", 4, Inner + Mlp, Inner, alpha: null, seed: 9);
    private static readonly TestLoraModule Embedder = Module("x_embedder", 2, 16, Inner, alpha: 1, seed: 10);

    /// <summary>Linears of our model the LoRA changes: qkv, fc2, single qkv and fc1, single out and fc2, x_embedder.</summary>
    public const int LayerCount = 7;

    /// <summary>Modules whose alpha defaults to their rank in the diffusers form.</summary>
    public static readonly string[] DefaultedAlpha = [SingleQ.Name, SingleK.Name, SingleV.Name, SingleMlp.Name, SingleOut.Name];

    /// <summary>The modules as the file of <paramref name="style"/> names them (diffusers with or without the "transformer." prefix).</summary>
    public static IReadOnlyList<TestLoraModule> Modules(LoraKeyStyle style, bool prefix = true) => style switch
    {
        LoraKeyStyle.Diffusers => new[] { Q, K, V, Fc2, SingleQ, SingleK, SingleV, SingleMlp, SingleOut, Embedder }
            .Select(m => prefix ? m.Renamed("transformer." + m.Name) : m).ToArray(),
        LoraKeyStyle.Kohya => Fused("lora_unet_double_blocks_0_img_attn_qkv", "lora_unet_double_blocks_1_img_mlp_2",
            "lora_unet_single_blocks_0_linear1", "lora_unet_single_blocks_1_linear2", "lora_unet_img_in"),
        _ => Fused("double_blocks.0.img_attn.qkv", "double_blocks.1.img_mlp.2", "single_blocks.0.linear1", "single_blocks.1.linear2", "img_in"),
    };

    /// <summary>The diffusers weights the LoRA changes and by how much (scale * strength * B A, float64).</summary>
    public static Dictionary<string, double[,]> Deltas(double strength = 1) =>
        new[] { Q, K, V, Fc2, SingleQ, SingleK, SingleV, SingleMlp, SingleOut, Embedder }
            .ToDictionary(m => m.Name + ".weight", m => Delta(m, strength));

    private static TestLoraModule[] Fused(string qkv, string mlpDown, string linear1, string linear2, string imageIn) =>
    [
        Fuse(qkv, Q, K, V),
        Fc2.Renamed(mlpDown),
        Fuse(linear1, SingleQ, SingleK, SingleV, SingleMlp),
        SingleOut.Renamed(linear2),
        Embedder.Renamed(imageIn),
    ];
}
