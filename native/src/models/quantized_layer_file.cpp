#include "models/quantized_layer_file.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_text.h"
#include "io/safetensors_file.h"
#include "io/safetensors_writer.h"
#include "models/nunchaku_linear.h"
#include "models/nunchaku_metadata.h"

namespace svdq {

namespace {

constexpr const char* kLayerKey = "svdquant_layer";  // {"out_features", "in_features", "rank", "method"}

}  // namespace

void write_quantized_layer(const std::string& path, const LinearWeights& w, const std::string& method, ThreadPool& pool) {
    require(w.kind == SVDQ_LINEAR_W4A4 && w.format == SVDQ_FORMAT_INT4, SVDQ_ERROR_UNSUPPORTED,
            path + ": only INT4 W4A4 layers (rtn, smoothquant, lowrank, svdquant) can be saved so far");
    NunchakuLinear l;
    l.precision = SVDQ_PRECISION_INT4;
    l.out_features = w.n;
    l.in_features = w.k;
    l.rank = w.rank;
    const std::vector<float> residual = smoothed_residual(w, pool);
    l.int4 = quantize_int4(residual.data(), w.n, w.k, pool);
    l.bias = w.bias;
    l.smooth = w.smooth.empty() ? std::vector<float>(static_cast<size_t>(w.k), 1.0f) : w.smooth;
    // Nunchaku's proj_down reads the layer input as it arrives: ours reads X / smooth.
    l.lora_down = w.down;
    for (int64_t r = 0; r < w.rank; ++r)
        for (int64_t j = 0; j < w.k; ++j) l.lora_down[static_cast<size_t>(r * w.k + j)] /= l.smooth[static_cast<size_t>(j)];
    l.lora_up = w.up;

    SafeTensorsWriter writer;
    add_nunchaku_linear(writer, kQuantizedLayerPrefix, l, nunchaku::Keys::Diffusers);
    set_nunchaku_metadata(writer, SVDQ_PRECISION_INT4, w.rank, "{}", "SvdQuantLinear");
    writer.set_metadata(kLayerKey, nlohmann::json{{"out_features", w.n}, {"in_features", w.k}, {"rank", w.rank},
                                                  {"method", method}, {"activation", w.activation}}
                                       .dump());
    writer.save(path);
}

LinearWeights read_quantized_layer(const std::string& path) {
    const SafeTensorsFile file(path);
    const auto entry = file.metadata().find(kLayerKey);
    require(entry != file.metadata().end(), SVDQ_ERROR_FORMAT,
            path + ": no '" + kLayerKey + "' metadata: not a layer written by svdquant layer quantize");
    const nlohmann::json info = parse_json(entry->second, path + ": metadata '" + kLayerKey + "'");
    require(info.is_object() && info.contains("out_features") && info.contains("in_features") && info.contains("rank"),
            SVDQ_ERROR_FORMAT, path + ": metadata '" + std::string(kLayerKey) + "' lacks out_features, in_features or rank");
    const NunchakuLinear stored = read_nunchaku_linear(file, kQuantizedLayerPrefix);
    const NunchakuLinear l = crop_nunchaku_linear(stored, info["out_features"].get<int64_t>(), info["in_features"].get<int64_t>(),
                                                  info["rank"].get<int64_t>());
    require(l.precision == SVDQ_PRECISION_INT4, SVDQ_ERROR_UNSUPPORTED, path + ": only INT4 layers can be loaded so far");
    LinearWeights w;
    w.kind = SVDQ_LINEAR_W4A4;
    w.format = SVDQ_FORMAT_INT4;
    w.activation = static_cast<svdq_activation>(info.value("activation", 0));
    w.n = l.out_features;
    w.k = l.in_features;
    w.rank = l.rank;
    w.bias = l.bias;
    w.smooth = l.smooth;
    w.up = l.lora_up;
    w.down = l.lora_down;
    w.down_reads_input = true;
    w.quantized_residual = l.int4;
    return w;
}

}  // namespace svdq
