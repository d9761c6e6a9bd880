// Builds the linears of one FLUX checkpoint. A transformer-block linear comes
// from the Nunchaku layer the file stores under that name (W4A4 or AWQ W4A16,
// 4-bit values used as stored), or else from diffusers' float tensors in the
// requested block format. Diffusers keeps some layers apart that the
// engine runs as one (q, k, v -> qkv) and one layer the engine runs as two (a
// single block's proj_out -> out over the attention columns, fc2 over the MLP
// columns), as Nunchaku does; FloatSource says how to assemble them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/arena.h"
#include "models/flux/flux_checkpoint.h"
#include "formats/nunchaku_flux_layout.h"
#include "nn/linear.h"

namespace svdq {

class Context;

// A block linear in diffusers' tensors: the row-wise stack of `parts`,
// restricted to the input columns [col_begin, col_begin + in) of each part.
// Sizes are multiples of the model width.
struct FloatSource {
    std::vector<std::string> parts;  // names relative to the block prefix, without ".weight"
    int64_t col_begin = 0;
    int64_t stored_in = 0;  // the parts' input width; 0: the layer's own
    bool bias = true;       // false: no bias (the attention half of a single block's proj_out)
};

// Where one engine linear of a block lives in each checkpoint style.
struct FluxLayerSpec {
    const nunchaku::LayerName* nunchaku;  // its names and kind in Nunchaku checkpoints
    FloatSource source;
    int64_t in_mult, out_mult;  // in and out features as multiples of the model width
    svdq_activation activation;
};

class FluxLayerLoader {
public:
    // block_scheme: the scheme of block linears built from float tensors
    // (modulation linears take W4A16 when it is W4A4, as in Nunchaku; 4-bit
    // schemes quantize to INT4).
    FluxLayerLoader(Context& ctx, const FluxCheckpoint& checkpoint, svdq_linear_scheme block_scheme);

    const FluxCheckpoint& checkpoint() const { return ck_; }
    // The scheme and format of the block linears loaded so far (the modulation
    // linears aside): a quantized file's own, else those asked for.
    svdq_linear_scheme block_scheme() const { return loaded_scheme_; }
    svdq_number_format block_format() const { return loaded_format_; }
    int64_t parameters() const { return parameters_; }
    uint64_t bytes() const { return bytes_; }
    // How many block linears came quantized from the file.
    int64_t stored_quantized() const { return stored_quantized_; }

    // A float linear with weight and bias under `name` (embedders, norm_out, proj_out).
    Linear dense(const std::string& name, int64_t in, int64_t out);
    // A block linear: `prefix` is "transformer_blocks.<i>." or "single_transformer_blocks.<i>.".
    Linear block(const std::string& prefix, const FluxLayerSpec& spec);
    // The first of `names` the checkpoint has, as float [1, size] in the
    // backend's memory (q/k norm weights).
    Buffer constant(const std::vector<std::string>& names, int64_t size);

    // The float weights of a block linear, assembled from diffusers' tensors.
    LinearWeights float_weights(const std::string& prefix, const FluxLayerSpec& spec) const;
    // The Nunchaku layer's tensor prefix in the file (either key style), or "" when absent.
    std::string stored_layer(const std::string& prefix, const nunchaku::LayerName& layer) const;

private:
    Linear make(LinearWeights w, int64_t parameters);

    Context& ctx_;
    const FluxCheckpoint& ck_;
    const svdq_linear_scheme block_scheme_;
    svdq_linear_scheme loaded_scheme_;
    svdq_number_format loaded_format_ = SVDQ_FORMAT_FLOAT;
    int64_t parameters_ = 0;
    uint64_t bytes_ = 0;
    int64_t stored_quantized_ = 0;
};

}  // namespace svdq
