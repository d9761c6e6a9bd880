// The input side of FLUX.1: timestep, guidance and pooled-text embeddings
// (summed into temb), the image and text token embedders, and the RoPE tables
// of the joint sequence.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "models/flux/flux_blocks.h"

namespace svdq {

struct FluxInputs {
    int64_t batch = 0, img_tokens = 0, txt_tokens = 0;
    const float* hidden_states = nullptr;          // [batch, img_tokens, in_channels]
    const float* encoder_hidden_states = nullptr;  // [batch, txt_tokens, joint_attention_dim]
    const float* pooled_projections = nullptr;     // [batch, pooled_projection_dim]
    const float* timestep = nullptr;               // [batch], t / 1000 as the pipeline passes it
    const float* guidance = nullptr;               // [batch] raw scale; required with guidance_embeds
    const float* img_ids = nullptr;                // [img_tokens, 3]
    const float* txt_ids = nullptr;                // [txt_tokens, 3]

    FluxTokens tokens() const { return {batch, img_tokens, txt_tokens}; }
};

// Receives named intermediate states, copied to the host (for locating a mismatch).
using FluxTrace = std::function<void(const std::string& name, const std::vector<float>& values)>;

// Hands trace the view's values (nothing happens without a trace).
void record(Context& ctx, const FluxTrace& trace, const char* name, const TensorView& values);

// What the blocks start from, in the context's arena.
struct FluxEmbedded {
    TensorView silu_temb;  // [batch, d]: every modulation linear reads it
    TensorView x;          // image states [batch * img, d]
    TensorView c;          // text states [batch * txt, d]
    FluxRope rope;         // over the joint sequence, text first
};

class FluxEmbeddings {
public:
    explicit FluxEmbeddings(FluxLayerLoader& load);

    // Checks the inputs against the config, then embeds them into the
    // context's arena (valid until the caller's scope ends).
    FluxEmbedded embed(const FluxRun& run, const FluxConfig& config, const FluxInputs& in, const FluxTrace& trace) const;

    // Its linears under their diffusers module names (x_embedder,
    // time_text_embed.timestep_embedder.linear_1, ...), for LoRAs.
    std::vector<std::pair<std::string, Linear*>> named_linears();

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
