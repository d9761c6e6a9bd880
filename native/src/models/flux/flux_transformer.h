// diffusers' FluxTransformer2DModel on the engine: embeddings, double-stream
// and single-stream blocks, output norm; exact in float, and loadable from a
// diffusers folder (block linears in any format) or a quantized
// single-file checkpoint (Nunchaku's, or one `svdquant quantize` wrote).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "models/flux/flux_block_cache.h"
#include "models/flux/flux_blocks.h"
#include "models/flux/flux_checkpoint.h"
#include "models/flux/flux_embeddings.h"
#include "models/flux/flux_lora.h"

namespace svdq {

class Context;

class FluxTransformer {
public:
    // block_scheme: the format of transformer-block linears built from float
    // tensors (quantized at load without calibration); block linears the
    // checkpoint stores quantized are used as stored. Embedders, norm_out and
    // proj_out stay float. attention: AUTO is BF16 for 4-bit block linears
    // (their own error dwarfs BF16's), FP32 for float ones.
    FluxTransformer(Context& ctx, const FluxCheckpoint& checkpoint, svdq_linear_scheme block_scheme = SVDQ_SCHEME_FLOAT,
                    svdq_attention_precision attention = SVDQ_ATTENTION_AUTO);

    const FluxConfig& config() const { return config_; }
    // The scheme and format of the block linears: a quantized checkpoint's own.
    svdq_linear_scheme block_scheme() const { return block_scheme_; }
    svdq_number_format block_format() const { return block_format_; }
    AttentionPrecision attention_precision() const { return attention_; }
    int64_t parameter_count() const { return parameter_count_; }
    uint64_t weight_bytes() const { return weight_bytes_; }

    // Writes the output [batch, img_tokens, patch^2 * out_channels] to out
    // (host memory). Activations live in the context's arena: once a shape has
    // run, another forward of that shape allocates nothing (without trace or hook).
    // `cache`, when given, is the first-block cache of the generation this step belongs to.
    void forward(Context& ctx, const FluxInputs& in, float* out, const FluxTrace& trace = {},
                 const LinearInputHook& hook = {}, FluxBlockCache* cache = nullptr) const;
    // The same, returning the output.
    std::vector<float> forward(Context& ctx, const FluxInputs& in, const FluxTrace& trace = {},
                               const LinearInputHook& hook = {}) const;

    // LoRAs at run time. Each linear a LoRA names gets the sum of every
    // LoRA's updates for it, scale times strength (strength 0: left out), as
    // low-rank updates (Linear::set_low_rank_updates). An added LoRA is checked
    // whole (every slot exists, shapes fit, values finite); a change changes
    // nothing on failure. Changes run one at a time, wait for running
    // forwards and hold new ones back until they are done.
    int32_t add_lora(Context& ctx, FluxLoraMatch match, float strength, std::string name);  // returns the id
    void set_lora_strength(Context& ctx, int32_t id, float strength);
    void remove_lora(Context& ctx, int32_t id);
    void clear_loras(Context& ctx);
    const std::vector<FluxLora>& loras() const { return loras_; }  // in the order added

private:
    FluxTransformer(FluxLayerLoader&& load, svdq_attention_precision attention);
    // The single blocks over the joint sequence; returns the image rows.
    TensorView run_single_blocks(const FluxRun& run, const FluxEmbedded& e, const FluxTokens& t, const FluxTrace& trace) const;

    FluxConfig config_;
    svdq_linear_scheme block_scheme_ = SVDQ_SCHEME_FLOAT;
    svdq_number_format block_format_ = SVDQ_FORMAT_FLOAT;
    AttentionPrecision attention_ = AttentionPrecision::fp32;
    int64_t parameter_count_ = 0;
    uint64_t weight_bytes_ = 0;
    FluxEmbeddings embeddings_;
    std::vector<FluxDoubleBlock> double_blocks_;
    std::vector<FluxSingleBlock> single_blocks_;
    Linear norm_out_, proj_out_;

    // Every linear by its slot name (flux_lora.h); made per change, so a moved model stays right.
    std::map<std::string, Linear*> linears_by_slot();
    // With forwards held back (the caller owns the lock): runs `change` on
    // loras_, then gives each of `layers` its updates; `undo` restores loras_
    // if that fails.
    void change_loras(Context& ctx, const std::map<std::string, Linear*>& slots, const std::set<std::string>& layers,
                      const std::function<void()>& change, const std::function<void()>& undo);
    size_t lora_index(int32_t id) const;

    std::vector<FluxLora> loras_;
    int32_t next_lora_id_ = 1;
    // Forwards share it, LoRA changes own it; behind a pointer so the model stays movable.
    std::unique_ptr<std::shared_mutex> lora_mutex_ = std::make_unique<std::shared_mutex>();
};

}  // namespace svdq
