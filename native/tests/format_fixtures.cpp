// svdquant_format_fixtures OUT_DIR: writes small checkpoints for trying
// `svdquant inspect` and other readers by hand:
//   nunchaku-reference-int4.safetensors  built to Nunchaku's published layout by
//                                        the independent reference packer (FLUX v0 names)
//   svdquant-int4.safetensors            written by the engine's Nunchaku writer
//   svdquant-nvfp4-diffusers.safetensors the same in NVFP4 with diffusers-style names
#include <cstdio>
#include <exception>
#include <string>

#include "format_test_util.h"
#include "models/nunchaku_metadata.h"
#include "nunchaku_reference_packer.h"

namespace {

using namespace svdq;
using namespace svdq::test;

constexpr const char* kConfig =
    R"({"_class_name": "FluxTransformer2DModel", "in_channels": 64, "num_layers": 1, "num_single_layers": 1,)"
    R"( "attention_head_dim": 128, "num_attention_heads": 1, "joint_attention_dim": 128, "pooled_projection_dim": 64,)"
    R"( "guidance_embeds": false, "axes_dims_rope": [16, 56, 56]})";

void write_reference(const std::string& path) {
    SafeTensorsWriter w;
    add_reference_w4a4(w, "transformer_blocks.0.qkv_proj", random_reference_w4a4(384, 128, 32, false, 1));
    add_reference_w4a4(w, "transformer_blocks.0.mlp_fc2", random_reference_w4a4(128, 512, 32, false, 2));
    add_reference_adanorm(w, "transformer_blocks.0.norm1.linear", random_reference_adanorm(6, 128, 128, 3));
    add_reference_w4a4(w, "single_transformer_blocks.0.qkv_proj", random_reference_w4a4(384, 128, 32, false, 4));
    add_reference_adanorm(w, "single_transformer_blocks.0.norm.linear", random_reference_adanorm(3, 128, 128, 5));
    w.add("transformer_blocks.0.norm_q.weight", SVDQ_DTYPE_BF16, {128}, bf16_bytes(bf16_values(128, 0.5f, 1.5f, 6)));
    w.add("x_embedder.weight", SVDQ_DTYPE_BF16, {128, 64}, bf16_bytes(bf16_values(128 * 64, -1, 1, 7)));
    w.set_metadata("config", kConfig);
    w.set_metadata("model_class", "NunchakuFluxTransformer2dModel");
    w.set_metadata("quantization_config",
                   R"({"method": "svdquant", "weight": {"dtype": "int4", "scale_dtype": null, "group_size": 64},)"
                   R"( "activation": {"dtype": "int4", "scale_dtype": null, "group_size": 64}, "rank": 32})");
    w.save(path);
}

void write_ours(const std::string& path, int32_t precision, nunchaku::Keys keys) {
    SafeTensorsWriter w;
    const bool v0 = keys == nunchaku::Keys::V0;
    add_nunchaku_linear(w, v0 ? "transformer_blocks.0.qkv_proj" : "transformer_blocks.0.attn.to_qkv",
                        random_nunchaku_linear(precision, 384, 128, 32, 11), keys);
    add_nunchaku_linear(w, v0 ? "transformer_blocks.0.mlp_fc2" : "transformer_blocks.0.ff.net.2",
                        random_nunchaku_linear(precision, 128, 512, 32, 12), keys);
    add_nunchaku_w4a16_linear(w, "transformer_blocks.0.norm1.linear", random_w4a16_linear(768, 128, 13));
    set_nunchaku_metadata(w, precision, 32, kConfig, "NunchakuFluxTransformer2dModel");
    w.save(path);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    try {
        write_reference(dir + "/nunchaku-reference-int4.safetensors");
        write_ours(dir + "/svdquant-int4.safetensors", SVDQ_PRECISION_INT4, nunchaku::Keys::V0);
        write_ours(dir + "/svdquant-nvfp4-diffusers.safetensors", SVDQ_PRECISION_NVFP4, nunchaku::Keys::Diffusers);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    std::printf("wrote 3 checkpoints to %s\n", dir.c_str());
    return 0;
}
