// The C API's quantizer options, validated and converted for the engine;
// shared by every entry point that quantizes.
#pragma once

#include <vector>

#include "quant/quantizer.h"
#include "svdquant.h"

namespace svdq {

QuantizerOptions options_of(const svdq_quantize_options& o);

// The report of a quantizer run; the calibration error is measured on up to
// score_tokens rows of calib [m, k] (0 when there is no calibration).
void fill_report(svdq_quantize_report& r, const QuantizedLayers& result, Context& ctx, const std::vector<const Linear*>& linears,
                 const std::vector<LayerToQuantize>& layers, const float* calib, int64_t m, int64_t k,
                 const QuantizerOptions& q, double packing_seconds);

}  // namespace svdq
