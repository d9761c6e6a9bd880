#include "formats/quantized_layer_file.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/number_format.h"
#include "formats/json_text.h"
#include "formats/safetensors_file.h"
#include "formats/safetensors_writer.h"
#include "formats/nunchaku_layer_convert.h"
#include "formats/nunchaku_metadata.h"
#include "formats/awq_packing.h"
#include "formats/matrix_pad.h"

namespace svdq {

namespace {

using json = nlohmann::json;

// {"out_features", "in_features", "rank", "method", "format", "activation"}
constexpr const char* kLayerKey = "svdquant_layer";
constexpr const char* kAwqMethod = "w4a16";

// The metadata spells formats in lower case.
const char* metadata_format(svdq_number_format f) { return f == SVDQ_FORMAT_NVFP4 ? "nvfp4" : "int4"; }

// What "svdquant_layer" says, checked; format is absent in files that predate NVFP4 layers.
struct LayerInfo {
    int64_t n = 0, k = 0, rank = 0;
    std::string method, format;
    svdq_activation activation = SVDQ_ACTIVATION_NONE;
};

LayerInfo read_layer_info(const SafeTensorsFile& file) {
    const auto entry = file.metadata().find(kLayerKey);
    const std::string what = file.path() + ": metadata '" + kLayerKey + "'";
    require(entry != file.metadata().end(), SVDQ_ERROR_FORMAT, what + " is missing: not a layer written by svdquant layer quantize");
    const json info = parse_json(entry->second, what);
    require(info.is_object(), SVDQ_ERROR_FORMAT, what + " is not a JSON object");
    const auto integer = [&](const char* key, int64_t least) {
        const json v = info.value(key, json());
        require(v.is_number_integer() && v.get<int64_t>() >= least, SVDQ_ERROR_FORMAT,
                what + " needs " + key + " as an integer >= " + std::to_string(least) + ", not " + v.dump());
        return v.get<int64_t>();
    };
    const auto text = [&](const char* key) {
        const json v = info.value(key, json(""));
        require(v.is_string(), SVDQ_ERROR_FORMAT, what + ": " + key + " must be a string, not " + v.dump());
        return v.get<std::string>();
    };
    LayerInfo l;
    l.n = integer("out_features", 1);
    l.k = integer("in_features", 1);
    l.rank = integer("rank", 0);
    l.method = text("method");
    l.format = text("format");
    require(l.format.empty() || l.format == "int4" || l.format == "nvfp4", SVDQ_ERROR_FORMAT,
            what + ": format '" + l.format + "' is neither int4 nor nvfp4");
    const json activation = info.value("activation", json(0));
    require(activation == json(SVDQ_ACTIVATION_NONE) || activation == json(SVDQ_ACTIVATION_GELU_TANH), SVDQ_ERROR_FORMAT,
            what + ": activation " + activation.dump() + " is not a svdq_activation value");
    l.activation = static_cast<svdq_activation>(activation.get<int32_t>());
    return l;
}

// AWQ packs output rows in fours: the file pads N with rows of value 0
// (nibble 0, scale 0, zero 0, bias 0) and reading cuts them off again.
NunchakuW4A16Linear with_rows(NunchakuW4A16Linear a, int64_t rows) {
    const size_t groups = static_cast<size_t>(rows * a.groups());
    a.packed.resize(static_cast<size_t>(rows * a.in_features / 2), 0);
    a.scales.resize(groups, 0.0f);
    a.zeros.resize(groups, 0.0f);
    if (!a.bias.empty()) a.bias.resize(static_cast<size_t>(rows), 0.0f);
    a.out_features = rows;
    return a;
}

}  // namespace

void write_quantized_layer(const std::string& path, const LinearWeights& w, const std::string& method, ThreadPool& pool) {
    require(w.scheme != SVDQ_SCHEME_FLOAT, SVDQ_ERROR_UNSUPPORTED, path + ": a layer file holds a W4A4 or W4A16 layer, not a float one");
    require_scheme_format(w.scheme, w.format, path);
    SafeTensorsWriter writer;
    if (w.scheme == SVDQ_SCHEME_W4A16) {
        add_nunchaku_w4a16_linear(writer, kQuantizedLayerPrefix,
                                  with_rows(awq_from_linear_weights(w, pool), round_up(w.n, awq::kRowsPerPack)));
    } else {
        const NunchakuLinear l = nunchaku_from_linear_weights(w, pool);
        add_nunchaku_linear(writer, kQuantizedLayerPrefix, l, nunchaku::Keys::Diffusers);
        set_nunchaku_metadata(writer, l.format, w.rank, "{}", "SvdQuantLinear");
    }
    writer.set_metadata(kLayerKey, json{{"out_features", w.n}, {"in_features", w.k}, {"rank", w.rank}, {"method", method},
                                        {"format", metadata_format(w.format)}, {"activation", w.activation}}
                                       .dump());
    writer.save(path);
}

LinearWeights read_quantized_layer(const std::string& path) {
    const SafeTensorsFile file(path);
    const LayerInfo info = read_layer_info(file);
    const std::string prefix = kQuantizedLayerPrefix;
    const TensorEntry* qweight = file.find(prefix + ".qweight");
    const bool awq = qweight != nullptr && qweight->dtype == SVDQ_DTYPE_I32;  // else the W4A4 reader names what is missing
    const std::string sizes = "metadata '" + std::string(kLayerKey) + "' declares [" + std::to_string(info.n) + ", " +
                              std::to_string(info.k) + "] rank " + std::to_string(info.rank);
    require(info.method.empty() || (info.method == kAwqMethod) == awq, SVDQ_ERROR_FORMAT,
            path + ": metadata '" + kLayerKey + "' says method '" + info.method + "' but the tensors hold " +
                (awq ? "an AWQ W4A16 layer" : "a W4A4 layer"));

    LinearWeights w;
    if (awq) {
        const NunchakuW4A16Linear stored = read_nunchaku_w4a16_linear(file, prefix);
        require(info.rank == 0 && info.k == stored.in_features && info.n <= stored.out_features, SVDQ_ERROR_FORMAT,
                path + ": " + sizes + ", which does not fit the stored AWQ layer [" + std::to_string(stored.out_features) +
                    ", " + std::to_string(stored.in_features) + "] (rank 0)");
        w = linear_weights_from_awq(with_rows(stored, info.n));
    } else {
        const NunchakuLinear stored = read_nunchaku_linear(file, prefix);
        require(info.n <= stored.out_features && info.k <= stored.in_features && info.rank <= stored.rank, SVDQ_ERROR_FORMAT,
                path + ": " + sizes + ", larger than the stored layer [" + std::to_string(stored.out_features) + ", " +
                    std::to_string(stored.in_features) + "] rank " + std::to_string(stored.rank));
        w = linear_weights_from_nunchaku(crop_nunchaku_linear(stored, info.n, info.k, info.rank));
    }
    require(info.format.empty() || info.format == metadata_format(w.format), SVDQ_ERROR_FORMAT,
            path + ": metadata '" + kLayerKey + "' says format '" + info.format + "' but the tensors are " + metadata_format(w.format));
    w.activation = info.activation;
    return w;
}

}  // namespace svdq
