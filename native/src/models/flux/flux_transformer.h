// diffusers' FluxTransformer2DModel on the engine: embeddings, double-stream
// and single-stream blocks, output norm; exact in float, and loadable from a
// diffusers folder (block linears in any format) or a quantized
// single-file checkpoint (Nunchaku's, or one `svdquant quantize` wrote).
#pragma once

#include <cstdint>
#include <vector>

#include "models/flux/flux_block_cache.h"
#include "models/flux/flux_blocks.h"
#include "models/flux/flux_checkpoint.h"
#include "models/flux/flux_embeddings.h"

namespace svdq {

class Context;

class FluxTransformer {
public:
    // block_scheme: the format of transformer-block linears built from float
    // tensors (quantized at load without calibration); block linears the
    // checkpoint stores quantized are used as stored. Embedders, norm_out and
    // proj_out stay float.
    FluxTransformer(Context& ctx, const FluxCheckpoint& checkpoint, svdq_linear_scheme block_scheme = SVDQ_SCHEME_FLOAT);

    const FluxConfig& config() const { return config_; }
    // The scheme and format of the block linears: a quantized checkpoint's own.
    svdq_linear_scheme block_scheme() const { return block_scheme_; }
    svdq_number_format block_format() const { return block_format_; }
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

private:
    FluxTransformer(FluxLayerLoader&& load);
    // The single blocks over the joint sequence; returns the image rows.
    TensorView run_single_blocks(const FluxRun& run, const FluxEmbedded& e, const FluxTokens& t, const FluxTrace& trace) const;

    FluxConfig config_;
    svdq_linear_scheme block_scheme_ = SVDQ_SCHEME_FLOAT;
    svdq_number_format block_format_ = SVDQ_FORMAT_FLOAT;
    int64_t parameter_count_ = 0;
    uint64_t weight_bytes_ = 0;
    FluxEmbeddings embeddings_;
    std::vector<FluxDoubleBlock> double_blocks_;
    std::vector<FluxSingleBlock> single_blocks_;
    Linear norm_out_, proj_out_;
};

}  // namespace svdq
