// The two transformer blocks of FLUX.1, each loadable and runnable on its own
// (the model-level quantizer streams them one at a time). Linears follow
// Nunchaku's grouping: q, k, v run as one qkv linear; a single block's
// proj_out runs as `out` (attention columns) plus `fc2` (MLP columns).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "backend/arena.h"
#include "core/tensor_view.h"
#include "models/flux/flux_config.h"
#include "models/flux/flux_layer_loader.h"
#include "models/flux/flux_ops.h"
#include "nn/linear.h"

namespace svdq {

class Context;

// Where a block's output projection goes: residual += gate * (its output +
// addend) for each batch item's `tokens` rows, the gate being chunk `chunk`
// of that item's modulation row; addend [batch * tokens, d] or absent.
struct FluxGatedAdd {
    TensorView residual;
    int64_t batch, tokens;
    TensorView mod;
    int64_t chunk;
    TensorView addend = {};
};

// One forward's engine context, the optional hook on linear inputs and the
// attention's precision.
struct FluxRun {
    Context& ctx;
    const LinearInputHook& hook;
    AttentionPrecision attention;

    // The layer's output for x, in the context's arena.
    TensorView apply(const Linear& layer, const TensorView& x) const;
    // The same into y.
    void apply_into(const Linear& layer, const TensorView& x, const TensorView& y) const;
    // second(first(x)) in the arena: one Backend::mlp (the hook, when set, sees both inputs).
    TensorView apply_pair(const Linear& first, const Linear& second, const TensorView& x) const;
    // The layer's (the pair's) output added into a residual stream through
    // Backend::linear_gated (mlp_gated): the GEMM's epilogue does the add
    // where the backend fuses it.
    void apply_gated(const Linear& layer, const TensorView& x, const FluxGatedAdd& to) const;
    void apply_pair_gated(const Linear& first, const Linear& second, const TensorView& x, const FluxGatedAdd& to) const;
    // A QKV projection's [q | k | v] in the arena, q and k RMS-normalised
    // with their weights and rotated by RoPE (Backend::linear_qk_norm_rope),
    // each batch item's `tokens` rows by the RoPE rows from `rope_first`.
    TensorView apply_qkv(const Linear& layer, const TensorView& x, const TensorView& q_weight, const TensorView& k_weight,
                         const FluxRope& rope, int64_t batch, int64_t tokens, int64_t rope_first) const;

private:
    void record(const Linear& layer, const TensorView& x) const;  // the hook, when set
};

// Token counts of one forward: text tokens come first in joint sequences.
struct FluxTokens {
    int64_t batch, img, txt;
    int64_t joint() const { return img + txt; }
};

// A block's linears by name, and which of them read one input (they share
// smoothing when quantized). Pointers to members, so any block can be walked.
template <typename Block>
struct BlockLayout {
    struct Entry {
        Linear Block::*slot;
        FluxLayerSpec spec;
    };
    std::vector<Entry> linears;
    std::vector<std::vector<size_t>> input_groups;  // indices into linears
};

// A block's linears under their names in the block (flux_lora.h's slot names: qkv, fc2, ...).
template <typename Block>
using NamedLinears = std::vector<std::pair<const char*, Linear Block::*>>;

class FluxDoubleBlock {
public:
    static const BlockLayout<FluxDoubleBlock>& layout();
    static const NamedLinears<FluxDoubleBlock>& named_linears();
    static std::string prefix(int64_t index) { return "transformer_blocks." + std::to_string(index) + "."; }

    FluxDoubleBlock(FluxLayerLoader& load, int64_t index);

    // x: image states [batch * img, d], c: text states [batch * txt, d], updated in place.
    void forward(const FluxRun& run, const TensorView& silu_temb, const FluxTokens& tokens, const FluxRope& rope,
                 const TensorView& x, const TensorView& c) const;

    Linear norm1, norm1_context, qkv, qkv_context, out, out_context, fc1, fc2, context_fc1, context_fc2;
    Buffer norm_q, norm_k, norm_added_q, norm_added_k;
};

class FluxSingleBlock {
public:
    static const BlockLayout<FluxSingleBlock>& layout();
    static const NamedLinears<FluxSingleBlock>& named_linears();
    static std::string prefix(int64_t index) { return "single_transformer_blocks." + std::to_string(index) + "."; }

    FluxSingleBlock(FluxLayerLoader& load, int64_t index);

    // h: joint states [batch * (txt + img), d], text rows first per batch item; updated in place.
    void forward(const FluxRun& run, const TensorView& silu_temb, const FluxTokens& tokens, const FluxRope& rope,
                 const TensorView& h) const;

    Linear norm, qkv, out, fc1, fc2;
    Buffer norm_q, norm_k;
};

}  // namespace svdq
