// The input side of FLUX.1: timestep, guidance and pooled-text embeddings
// (summed into temb), the image and text token embedders, and the RoPE tables
// of the joint sequence.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "models/flux/flux_blocks.h"
#include "nn/rope.h"

namespace svdq {

struct FluxInputs {
    int64_t batch = 0, img_tokens = 0, txt_tokens = 0;
    const float* hidden_states = nullptr;          // [batch, img_tokens, in_channels * patch^2]
    const float* encoder_hidden_states = nullptr;  // [batch, txt_tokens, joint_attention_dim]
    const float* pooled_projections = nullptr;     // [batch, pooled_projection_dim]
    const float* timestep = nullptr;               // [batch], t / 1000 as the pipeline passes it
    const float* guidance = nullptr;               // [batch] raw scale; required with guidance_embeds
    const float* img_ids = nullptr;                // [img_tokens, 3]
    const float* txt_ids = nullptr;                // [txt_tokens, 3]

    FluxTokens tokens() const { return {batch, img_tokens, txt_tokens}; }
};

// Receives named intermediate states (for locating a mismatch).
using FluxTrace = std::function<void(const std::string& name, const std::vector<float>& values)>;

// What the blocks start from.
struct FluxEmbedded {
    std::vector<float> silu_temb;  // [batch, d]: every modulation linear reads it
    std::vector<float> x;          // image states [batch * img, d]
    std::vector<float> c;          // text states [batch * txt, d]
    RopeTables rope;               // over the joint sequence, text first
};

class FluxEmbeddings {
public:
    explicit FluxEmbeddings(FluxLayerLoader& load);

    // Checks the inputs against the config, then embeds them.
    FluxEmbedded embed(const FluxRun& run, const FluxConfig& config, const FluxInputs& in, const FluxTrace& trace) const;

private:
    FluxEmbeddings(FluxLayerLoader& load, const FluxConfig& config);

    struct Mlp {  // linear_1 -> SiLU -> linear_2
        Linear linear_1, linear_2;
    };
    Mlp timestep_, text_;
    std::vector<Mlp> guidance_;  // empty without guidance_embeds
    Linear x_embedder_, context_embedder_;
};

}  // namespace svdq
