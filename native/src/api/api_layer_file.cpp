#include <algorithm>

#include "api/api_guard.h"
#include "api/quantize_options.h"
#include "backend/context.h"
#include "core/tensor.h"
#include "formats/safetensors_file.h"
#include "formats/quantized_layer_file.h"
#include "nn/linear.h"
#include "core/numerics/fake_quant.h"

using namespace svdq;

namespace {

// `name` from the layer file, float, of `rank` dimensions; errors name file and tensor.
const TensorEntry& float_tensor(const SafeTensorsFile& f, const char* name, size_t rank) {
    const TensorEntry& t = f.at(name);
    require(t.shape.size() == rank, SVDQ_ERROR_SHAPE_MISMATCH,
            f.describe(t) + " has shape " + t.shape_string() + " but must have " + std::to_string(rank) + " dimensions");
    require(t.dtype == SVDQ_DTYPE_F32 || t.dtype == SVDQ_DTYPE_F16 || t.dtype == SVDQ_DTYPE_BF16, SVDQ_ERROR_DTYPE,
            f.describe(t) + " must be F32, F16 or BF16, not " + dtype_name(t.dtype));
    return t;
}

}  // namespace

extern "C" {

SVDQ_API svdq_status svdq_layer_quantize_file(svdq_context* context, const svdq_quantize_options* options,
                                              const char* input_path, const char* output_path,
                                              svdq_quantize_report* out_report) {
    return guarded(__func__, [&] {
        const ContextCall call(context);
        svdq_context& ctx = call.context();
        svdq_quantize_options defaults;
        svdq_quantize_options_init(&defaults);
        const svdq_quantize_options o = read_versioned(deref(options, "options"), defaults, "svdq_quantize_options");
        if (out_report != nullptr) require_struct_size(out_report->struct_size, sizeof(svdq_quantize_report), "svdq_quantize_report");
        const QuantizerOptions q = options_of(o);
        require(input_path != nullptr && output_path != nullptr, SVDQ_ERROR_INVALID_ARGUMENT, "input_path and output_path are required");
        const SafeTensorsFile in(input_path);

        const TensorEntry& weight = float_tensor(in, "weight", 2);
        const int64_t n = weight.shape[0], k = weight.shape[1], group = format_group_size(q.format);
        require(k % group == 0, SVDQ_ERROR_SHAPE_MISMATCH,
                in.describe(weight) + " has K = " + std::to_string(k) + ", not a multiple of the group size " + std::to_string(group));
        LayerToQuantize layer{n, in.read_f32(weight), {}};
        if (const TensorEntry* bias = in.find("bias")) {
            require(bias->shape == std::vector<int64_t>{n}, SVDQ_ERROR_SHAPE_MISMATCH,
                    in.describe(*bias) + " has shape " + bias->shape_string() + ", expected [" + std::to_string(n) + "]");
            layer.bias = in.read_f32(float_tensor(in, "bias", 1));
        }
        std::vector<float> calib;
        int64_t m = 0;
        const bool smooths = q.method == SVDQ_QUANT_SMOOTHQUANT || q.method == SVDQ_QUANT_SVDQUANT;
        if (smooths || in.find("calib") != nullptr) {
            const TensorEntry& c = float_tensor(in, "calib", 2);
            require(c.shape[1] == k, SVDQ_ERROR_SHAPE_MISMATCH,
                    in.describe(c) + " has shape " + c.shape_string() + " but weight has K = " + std::to_string(k));
            m = c.shape[0];
            calib = in.read_f32(c);
        }

        QuantizedLayers result = quantize_layers({layer}, k, calib.empty() ? nullptr : calib.data(), m, q, ctx, {input_path});
        const LinearWeights& w = result.layers.front();
        write_quantized_layer(output_path, w, method_name(q.method), ctx.pool());
        if (out_report != nullptr) {
            const Linear created(ctx, w);
            fill_report(*out_report, result, ctx, {&created}, {layer}, calib.data(), m, k, q, 0.0);
        }
    });
}

SVDQ_API svdq_status svdq_linear_load(svdq_context* context, const char* path, svdq_linear** out_linear) {
    return guarded(__func__, [&] {
        svdq_linear*& out = deref(out_linear, "out_linear");
        out = nullptr;
        const ContextCall call(context);
        svdq_context& ctx = call.context();
        require(path != nullptr, SVDQ_ERROR_INVALID_ARGUMENT, "path is NULL");
        out = new svdq_linear(ctx, read_quantized_layer(path));
    });
}

}  // extern "C"
