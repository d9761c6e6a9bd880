#include "formats/nunchaku_flux_layout.h"

#include <cstring>
#include <string>

#include "core/error.h"

namespace svdq::nunchaku {

const std::vector<LayerName>& double_block_layers() {
    static const std::vector<LayerName> layers = {
        {"norm1.linear", "norm1.linear", LayerKind::AdaNorm6},
        {"norm1_context.linear", "norm1_context.linear", LayerKind::AdaNorm6},
        {"qkv_proj", "attn.to_qkv", LayerKind::W4A4},
        {"qkv_proj_context", "attn.add_qkv_proj", LayerKind::W4A4},
        {"out_proj", "attn.to_out.0", LayerKind::W4A4Fused},
        {"out_proj_context", "attn.to_add_out", LayerKind::W4A4Fused},
        {"mlp_fc1", "ff.net.0.proj", LayerKind::W4A4},
        {"mlp_fc2", "ff.net.2", LayerKind::W4A4Unsigned},
        {"mlp_context_fc1", "ff_context.net.0.proj", LayerKind::W4A4},
        {"mlp_context_fc2", "ff_context.net.2", LayerKind::W4A4Unsigned},
    };
    return layers;
}

const std::vector<LayerName>& single_block_layers() {
    static const std::vector<LayerName> layers = {
        {"norm.linear", "norm.linear", LayerKind::AdaNorm3},
        {"qkv_proj", "attn.to_qkv", LayerKind::W4A4},
        {"out_proj", "attn.to_out", LayerKind::W4A4Fused},
        {"mlp_fc1", "mlp_fc1", LayerKind::W4A4},
        {"mlp_fc2", "mlp_fc2", LayerKind::W4A4Unsigned},
    };
    return layers;
}

const LayerName& layer_named(bool single_block, const char* v0) {
    for (const LayerName& l : single_block ? single_block_layers() : double_block_layers())
        if (std::strcmp(l.v0, v0) == 0) return l;
    fail(SVDQ_ERROR_INTERNAL, std::string("no Nunchaku layer '") + v0 + "'");
}

W4A4TensorNames w4a4_tensor_names(Keys keys) {
    if (keys == Keys::V0) return {"smooth", "smooth_orig", "lora_down", "lora_up"};
    return {"smooth_factor", "smooth_factor_orig", "proj_down", "proj_up"};
}

}  // namespace svdq::nunchaku
