// Model-level SVDQuant of a float FLUX.1 checkpoint into one Nunchaku-style
// safetensors file (what `svdquant quantize` runs). Blocks are streamed: the
// calibration inputs are embedded once, then each block in turn is loaded in
// float, run over the calibration states (advancing them, as the float model
// would) while the inputs of its linears are collected, quantized group by
// group (linears reading one input share smoothing), written, and dropped.
// Memory holds one float block and one block's calibration activations.
//
// The file follows Nunchaku's conventions (nunchaku_flux_layout.h) with
// diffusers-style keys: fused qkv layers, a single block's proj_out split into
// out_proj and mlp_fc2, AWQ W4A16 adaLN layers in Nunchaku's row order, and
// for INT4 the mlp_fc2 input shifted and quantized unsigned with the bias
// compensating the shift. Smoothing stays in each layer (`smooth_factor` =
// `smooth_factor_orig`), not folded into V: Nunchaku applies every layer's
// smooth factor, so both runtimes compute the same thing.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "models/flux/flux_checkpoint.h"
#include "models/flux/flux_embeddings.h"
#include "models/flux/flux_lora.h"
#include "quant/quantizer.h"

namespace svdq {

class Context;

struct FluxQuantizeStep {
    std::string layer;        // the file name of the layer just written
    int64_t done = 0, total = 0;
    float calibration_error;  // its relative output error on calibration tokens; < 0 for the W4A16 adaLN layers
};

// Called after each layer; returning false cancels (SVDQ_ERROR_CANCELLED, no file written).
using FluxQuantizeProgress = std::function<bool(const FluxQuantizeStep&)>;

// options.method: any W4A4 method (rtn, smoothquant, lowrank, svdquant), INT4 or NVFP4.
// loras are merged into the float weights first (W += strength * scale * up
// down per slot, the float64 sum rounded once), everywhere: block linears
// before they are calibrated and quantized, and the float embedders, norm_out
// and proj_out, written merged in F32. They are checked against the model
// before any work.
void quantize_flux(Context& ctx, const FluxCheckpoint& checkpoint, const std::vector<FluxInputs>& calibration,
                   const QuantizerOptions& options, const std::string& output_path, const FluxQuantizeProgress& progress = {},
                   const std::vector<FluxLora>& loras = {});

// The number of layers quantize_flux writes for `config` (progress totals).
int64_t flux_quantized_layer_count(const FluxConfig& config);

}  // namespace svdq
