// diffusers' FluxTransformer2DModel on the engine: embeddings, double-stream
// and single-stream blocks, output norm, exact in float.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "models/flux/flux_checkpoint.h"
#include "models/flux/flux_config.h"
#include "nn/linear.h"
#include "quant/quantizer.h"

namespace svdq {

class Context;
struct RopeTables;

struct FluxInputs {
    int64_t batch = 0, img_tokens = 0, txt_tokens = 0;
    const float* hidden_states = nullptr;          // [batch, img_tokens, in_channels * patch^2]
    const float* encoder_hidden_states = nullptr;  // [batch, txt_tokens, joint_attention_dim]
    const float* pooled_projections = nullptr;     // [batch, pooled_projection_dim]
    const float* timestep = nullptr;               // [batch], t / 1000 as the pipeline passes it
    const float* guidance = nullptr;               // [batch] raw scale; required with guidance_embeds
    const float* img_ids = nullptr;                // [img_tokens, 3]
    const float* txt_ids = nullptr;                // [txt_tokens, 3]
};

// Receives named intermediate states (for debugging a mismatch).
using FluxTrace = std::function<void(const std::string& name, const std::vector<float>& values)>;

// Receives the input rows [rows, in_features] of every linear a forward runs.
using LinearInputHook = std::function<void(const Linear& layer, const std::vector<float>& x, int64_t rows)>;

class FluxTransformer {
public:
    // block_kind: the precision of the transformer-block linears (quantized
    // at load from the float weights); embedders and proj_out stay float.
    FluxTransformer(Context& ctx, const FluxCheckpoint& checkpoint, svdq_linear_kind block_kind = SVDQ_LINEAR_FLOAT);

    const FluxConfig& config() const { return config_; }
    svdq_linear_kind block_kind() const { return block_kind_; }
    int64_t parameter_count() const { return parameter_count_; }
    uint64_t weight_bytes() const { return weight_bytes_; }

    // Returns the output [batch, img_tokens, patch^2 * out_channels].
    std::vector<float> forward(Context& ctx, const FluxInputs& in, const FluxTrace& trace = {},
                               const LinearInputHook& hook = {}) const;

    // Calibrated quantization of a float-loaded model: runs `calibration`,
    // collects each block linear's inputs, and rebuilds the block linears with
    // the quantizer (linears reading one input share smoothing). The adaLN
    // modulation linears become W4A16. Weights are re-read from `checkpoint`.
    void quantize(Context& ctx, const FluxCheckpoint& checkpoint, const std::vector<FluxInputs>& calibration,
                  const QuantizerOptions& options);

private:
    struct Embedder {  // linear_1 -> SiLU -> linear_2
        Linear linear_1, linear_2;
    };
    struct DoubleBlock {
        Linear norm1, norm1_context;
        Linear to_q, to_k, to_v, add_q, add_k, add_v, to_out, to_add_out;
        Linear ff_in, ff_out, ff_context_in, ff_context_out;
        std::vector<float> norm_q, norm_k, norm_added_q, norm_added_k;
    };
    struct SingleBlock {
        Linear norm, to_q, to_k, to_v, proj_mlp, proj_out;
        std::vector<float> norm_q, norm_k;
    };

    struct Run;
    // The block linears that read one input, with their checkpoint names.
    struct Group {
        std::vector<Linear*> layers;
        std::vector<std::string> names;
    };
    std::vector<Group> block_groups();
    std::vector<Linear*> modulation_linears(std::vector<std::string>& names);
    std::vector<const Linear*> all_linears() const;

    std::vector<float> time_embedding(const Run& run, const FluxInputs& in) const;
    void double_block(const Run& run, const DoubleBlock& b, const std::vector<float>& silu_temb, const FluxInputs& in,
                      const RopeTables& rope, std::vector<float>& x, std::vector<float>& c) const;
    struct Loader;
    explicit FluxTransformer(Loader&& load);

    void single_block(const Run& run, const SingleBlock& b, const std::vector<float>& silu_temb, int64_t batch,
                      int64_t tokens, const RopeTables& rope, std::vector<float>& h) const;

    FluxConfig config_;
    svdq_linear_kind block_kind_;
    int64_t parameter_count_ = 0;
    uint64_t weight_bytes_ = 0;
    Embedder timestep_embedder_, text_embedder_;
    std::vector<Embedder> guidance_embedder_;  // empty without guidance_embeds
    Linear x_embedder_, context_embedder_, norm_out_, proj_out_;
    std::vector<DoubleBlock> double_blocks_;
    std::vector<SingleBlock> single_blocks_;
};

}  // namespace svdq
