#include "models/flux/flux_layer_loader.h"

#include "backend/context.h"
#include "core/error.h"
#include "formats/nunchaku_layer_convert.h"
#include "formats/nunchaku_linear.h"
#include "formats/nunchaku_w4a16_linear.h"

namespace svdq {

FluxLayerLoader::FluxLayerLoader(Context& ctx, const FluxCheckpoint& checkpoint, svdq_linear_scheme block_scheme)
    : ctx_(ctx), ck_(checkpoint), block_scheme_(block_scheme), loaded_scheme_(block_scheme) {}

Linear FluxLayerLoader::make(LinearWeights w, int64_t parameters) {
    parameters_ += parameters;
    Linear layer(ctx_, std::move(w));
    bytes_ += layer.weight_bytes();
    return layer;
}

Linear FluxLayerLoader::dense(const std::string& name, int64_t in, int64_t out) {
    LinearWeights w;
    w.n = out;
    w.k = in;
    w.weight = ck_.read(name + ".weight", {out, in});
    w.bias = ck_.read(name + ".bias", {out});
    return make(std::move(w), out * in + out);
}

Buffer FluxLayerLoader::constant(const std::vector<std::string>& names, int64_t size) {
    for (const std::string& name : names)
        if (ck_.contains(name)) {
            const std::vector<float> v = ck_.read(name, {size});
            Buffer b(ctx_.backend(), 1, size);
            ctx_.backend().upload(v.data(), b.view());
            parameters_ += size;
            bytes_ += v.size() * sizeof(float);
            return b;
        }
    fail(SVDQ_ERROR_FORMAT, ck_.path() + ": no tensor '" + names.front() + "'");
}

std::string FluxLayerLoader::stored_layer(const std::string& prefix, const nunchaku::LayerName& layer) const {
    for (const char* name : {layer.v0, layer.diffusers})
        if (ck_.contains(prefix + name + ".qweight")) return prefix + name;
    return "";
}

LinearWeights FluxLayerLoader::float_weights(const std::string& prefix, const FluxLayerSpec& spec) const {
    const int64_t d = ck_.config().inner_dim(), in = spec.in_mult * d, out = spec.out_mult * d;
    const int64_t part_rows = out / static_cast<int64_t>(spec.source.parts.size());
    LinearWeights w;
    w.scheme = SVDQ_SCHEME_FLOAT;
    w.activation = spec.activation;
    w.n = out;
    w.k = in;
    const int64_t stored_in = (spec.source.stored_in == 0 ? spec.in_mult : spec.source.stored_in) * d;
    const int64_t col_begin = spec.source.col_begin * d;
    w.weight.reserve(static_cast<size_t>(out * in));
    for (const std::string& part : spec.source.parts) {
        const std::string name = prefix + part;
        const std::vector<float> weight = ck_.read(name + ".weight", {part_rows, stored_in});
        for (int64_t r = 0; r < part_rows; ++r)
            w.weight.insert(w.weight.end(), weight.begin() + r * stored_in + col_begin,
                            weight.begin() + r * stored_in + col_begin + in);
        if (spec.source.bias) {
            const std::vector<float> bias = ck_.read(name + ".bias", {part_rows});
            w.bias.insert(w.bias.end(), bias.begin(), bias.end());
        }
    }
    return w;
}

Linear FluxLayerLoader::block(const std::string& prefix, const FluxLayerSpec& spec) {
    const nunchaku::LayerName& layer = *spec.nunchaku;
    const bool modulation = layer.kind == nunchaku::LayerKind::AdaNorm6 || layer.kind == nunchaku::LayerKind::AdaNorm3;
    const int64_t d = ck_.config().inner_dim(), in = spec.in_mult * d, out = spec.out_mult * d;
    const int64_t parameters = out * in + (spec.source.bias ? out : 0);
    const std::string stored = stored_layer(prefix, layer);
    if (stored.empty()) {
        LinearWeights w = float_weights(prefix, spec);
        w.scheme = block_scheme_ == SVDQ_SCHEME_W4A4 && modulation ? SVDQ_SCHEME_W4A16 : block_scheme_;
        w.format = w.scheme == SVDQ_SCHEME_FLOAT ? SVDQ_FORMAT_FLOAT : SVDQ_FORMAT_INT4;
        if (!modulation) loaded_format_ = w.format;
        return make(std::move(w), parameters);
    }

    const SafeTensorsFile& file = *ck_.file_with(stored + ".qweight");
    ++stored_quantized_;
    // An int32 qweight is an AWQ W4A16 layer: always for the adaLN linears
    // (Nunchaku's rows interleaved, +1 folded in), and for any other block
    // linear stored in W4A16 (rows as in diffusers; Nunchaku publishes none).
    if (modulation || file.find(stored + ".qweight")->dtype == SVDQ_DTYPE_I32) {
        NunchakuW4A16Linear awq = read_nunchaku_w4a16_linear(file, stored);
        if (modulation) awq = adanorm_from_nunchaku(awq, layer.kind == nunchaku::LayerKind::AdaNorm6 ? 6 : 3);
        require(awq.out_features == out && awq.in_features == in, SVDQ_ERROR_SHAPE_MISMATCH,
                file.path() + ": layer '" + stored + "' is [" + std::to_string(awq.out_features) + ", " +
                    std::to_string(awq.in_features) + "], the config needs [" + std::to_string(out) + ", " + std::to_string(in) + "]");
        LinearWeights w = linear_weights_from_awq(awq);
        w.activation = spec.activation;
        if (!modulation) {
            loaded_scheme_ = w.scheme;
            loaded_format_ = w.format;
        }
        return make(std::move(w), parameters);
    }
    const NunchakuLinear padded = read_nunchaku_linear(file, stored);
    require(padded.out_features >= out && padded.in_features >= in, SVDQ_ERROR_SHAPE_MISMATCH,
            file.path() + ": layer '" + stored + "' is [" + std::to_string(padded.out_features) + ", " +
                std::to_string(padded.in_features) + "], smaller than the config's [" + std::to_string(out) + ", " +
                std::to_string(in) + "]");
    LinearWeights w = linear_weights_from_nunchaku(crop_nunchaku_linear(padded, out, in));
    w.activation = spec.activation;
    loaded_scheme_ = w.scheme;
    loaded_format_ = w.format;
    if (layer.kind == nunchaku::LayerKind::W4A4Unsigned && w.format == SVDQ_FORMAT_INT4) {
        // Nunchaku quantizes this input as the shifted GELU output, unsigned (nunchaku_flux_layout.h).
        w.input_shift = nunchaku::kGeluShift;
        w.unsigned_input = true;
    }
    return make(std::move(w), parameters);
}

}  // namespace svdq
