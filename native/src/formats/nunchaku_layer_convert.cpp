#include "formats/nunchaku_layer_convert.h"

#include <algorithm>
#include <string>

#include "core/error.h"
#include "core/number_format.h"
#include "core/numerics/nvfp4_quant.h"

namespace svdq {

namespace {

// A signed nibble q and AWQ's unsigned q + 8 differ in the top bit only.
std::vector<uint8_t> flip_nibble_signs(const std::vector<uint8_t>& packed) {
    std::vector<uint8_t> out(packed.size());
    std::transform(packed.begin(), packed.end(), out.begin(), [](uint8_t b) { return static_cast<uint8_t>(b ^ 0x88); });
    return out;
}

bool all_ones(const std::vector<float>& v) {
    return std::all_of(v.begin(), v.end(), [](float x) { return x == 1.0f; });
}

}  // namespace

NunchakuLinear nunchaku_from_linear_weights(const LinearWeights& w, ThreadPool& pool) {
    require(w.scheme == SVDQ_SCHEME_W4A4, SVDQ_ERROR_INVALID_ARGUMENT,
            "only W4A4 layers have Nunchaku's SVDQuant form (W4A16 layers: awq_from_linear_weights)");
    NunchakuLinear l;
    l.format = w.format == SVDQ_FORMAT_NVFP4 ? SVDQ_FORMAT_NVFP4 : SVDQ_FORMAT_INT4;
    l.out_features = w.n;
    l.in_features = w.k;
    l.rank = w.rank;
    if (w.format == SVDQ_FORMAT_NVFP4) {
        if (w.nvfp4_residual) {
            l.nvfp4 = w.nvfp4_residual->values;
            l.channel_scales = w.nvfp4_residual->channel_scales;
            l.tensor_scale = w.nvfp4_residual->tensor_scale;
        } else {
            Nvfp4Tensor t = quantize_nvfp4(smoothed_residual(w, pool).data(), w.n, w.k, pool);
            l.nvfp4 = std::move(t.values);
            l.tensor_scale = t.tensor_scale;
            l.channel_scales.assign(static_cast<size_t>(w.n), 1.0f);  // Nunchaku's NVFP4 layers always carry wcscales
        }
    } else {
        l.int4 = w.quantized_residual ? *w.quantized_residual : quantize_int4(smoothed_residual(w, pool).data(), w.n, w.k, pool);
    }
    l.bias = w.bias;
    l.smooth = w.smooth.empty() ? std::vector<float>(static_cast<size_t>(w.k), 1.0f) : w.smooth;
    l.lora_down = down_reading_input(w);
    l.lora_up = w.up;
    return l;
}

LinearWeights linear_weights_from_nunchaku(const NunchakuLinear& l) {
    require_scheme_format(SVDQ_SCHEME_W4A4, l.format, "a Nunchaku SVDQuant layer");
    LinearWeights w;
    w.scheme = SVDQ_SCHEME_W4A4;
    w.format = l.format;
    w.n = l.out_features;
    w.k = l.in_features;
    w.rank = l.rank;
    w.bias = l.bias;
    if (!all_ones(l.smooth)) w.smooth = l.smooth;
    w.up = l.lora_up;
    w.down = l.lora_down;
    w.down_reads_input = true;
    if (w.format == SVDQ_FORMAT_NVFP4)
        w.nvfp4_residual = Nvfp4Weights{l.nvfp4, l.channel_scales, l.tensor_scale};
    else
        w.quantized_residual = l.int4;
    return w;
}

NunchakuW4A16Linear awq_from_linear_weights(const LinearWeights& w, ThreadPool& pool) {
    require(w.scheme == SVDQ_SCHEME_W4A16 && w.format == SVDQ_FORMAT_INT4, SVDQ_ERROR_INVALID_ARGUMENT,
            "only INT4 W4A16 layers have an AWQ form");
    const Int4Matrix values = w.quantized_residual ? *w.quantized_residual : quantize_int4(w.weight.data(), w.n, w.k, pool);
    NunchakuW4A16Linear a;
    a.out_features = w.n;
    a.in_features = w.k;
    a.packed = flip_nibble_signs(values.packed);
    a.scales = values.scales;
    a.zeros = w.quantized_zeros;
    if (a.zeros.empty())
        for (float s : a.scales) a.zeros.push_back(-8.0f * s);  // q * s = (q + 8) * s - 8 * s, exactly
    a.bias = w.bias;
    return a;
}

LinearWeights linear_weights_from_awq(const NunchakuW4A16Linear& a) {
    LinearWeights w;
    w.scheme = SVDQ_SCHEME_W4A16;
    w.format = SVDQ_FORMAT_INT4;
    w.n = a.out_features;
    w.k = a.in_features;
    w.bias = a.bias;
    w.quantized_residual = Int4Matrix{a.out_features, a.in_features, flip_nibble_signs(a.packed), a.scales};
    bool symmetric = a.zeros.size() == a.scales.size();
    for (size_t g = 0; symmetric && g < a.zeros.size(); ++g) symmetric = a.zeros[g] == -8.0f * a.scales[g];
    if (!symmetric) w.quantized_zeros = a.zeros;
    return w;
}

}  // namespace svdq
