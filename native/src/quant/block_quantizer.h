// One step of a streaming model quantizer, for a block of any model family:
// the float block runs over the calibration set while the inputs of its
// linears are collected; each input group (linears reading one input share
// one smoothing) is quantized with the caller's method; each quantized layer
// is measured on calibration tokens and handed to the checkpoint writer.
// Linears in no group (a model's modulation layers) go to the writer in float
// marked W4A16, for the format's own weight-only quantization.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/function_ref.h"
#include "core/linear_weights.h"
#include "nn/linear.h"
#include "quant/quantizer.h"

namespace svdq {

class Context;

// What a model family shows the quantizer of one of its blocks.
class QuantizableBlock {
public:
    struct Entry {
        const Linear* layer;  // the float layer the block's forward runs (its input hook names it)
        std::string name;     // the checkpoint's name for it, for errors and progress
    };

    virtual ~QuantizableBlock() = default;
    virtual const std::vector<Entry>& linears() const = 0;
    // Indices into linears(); each group reads one input.
    virtual const std::vector<std::vector<size_t>>& input_groups() const = 0;
    // The stored float weights of linears()[i].
    virtual LinearWeights float_weights(size_t i) const = 0;
    // Runs the block over every calibration state, advancing them as the
    // float model would; the hook sees each linear's input.
    virtual void run(const LinearInputHook& hook) const = 0;
};

// The checkpoint writer's side: stores linears()[i] (it may first rewrite the
// weights into its format's conventions; the error is measured after that).
using QuantizedLinearSink = FunctionRef<void(size_t linear, LinearWeights& weights)>;
// After each stored layer: its relative output error on calibration tokens (< 0 for W4A16).
using QuantizedLinearReport = FunctionRef<void(const std::string& name, float error)>;

void quantize_block(Context& ctx, const QuantizableBlock& block, const QuantizerOptions& options,
                    QuantizedLinearSink store, QuantizedLinearReport report);

}  // namespace svdq
