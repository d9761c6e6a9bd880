#include "formats/checkpoint_flavour.h"

#include <algorithm>
#include <string>

#include "core/error.h"
#include "core/number_format.h"
#include "formats/nunchaku_linear.h"
#include "formats/nunchaku_metadata.h"
#include "formats/nunchaku_w4a16_linear.h"

namespace svdq {

namespace {

constexpr const char* kQweightSuffix = ".qweight";

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// Names only diffusers' FluxTransformer2DModel uses; a shard holds some of them.
bool is_diffusers_flux_name(const std::string& name) {
    return starts_with(name, "transformer_blocks.") || starts_with(name, "single_transformer_blocks.") ||
           starts_with(name, "x_embedder.") || starts_with(name, "context_embedder.") ||
           starts_with(name, "time_text_embed.");
}

int32_t nunchaku_flavour(svdq_number_format format, int32_t keys) {
    const bool fp4 = format == SVDQ_FORMAT_NVFP4;
    if (keys == SVDQ_KEYS_NUNCHAKU_V0) return fp4 ? SVDQ_FLAVOUR_NUNCHAKU_NVFP4_V0 : SVDQ_FLAVOUR_NUNCHAKU_INT4_V0;
    return fp4 ? SVDQ_FLAVOUR_NUNCHAKU_NVFP4_DIFFUSERS : SVDQ_FLAVOUR_NUNCHAKU_INT4_DIFFUSERS;
}

}  // namespace

CheckpointInfo inspect_checkpoint(const SafeTensorsFile& file) {
    CheckpointInfo info;
    std::string first_layer;  // the W4A4 layer that set format and keys
    bool diffusers_names = false;
    for (const TensorEntry& t : file.tensors()) {
        info.parameter_count += static_cast<uint64_t>(t.numel);
        diffusers_names = diffusers_names || is_diffusers_flux_name(t.name);
        if (!ends_with(t.name, kQweightSuffix)) continue;
        const std::string prefix = t.name.substr(0, t.name.size() - std::string(kQweightSuffix).size());
        if (t.dtype == SVDQ_DTYPE_I32) {  // AWQ W4A16: 8 nibbles per int32
            int64_t n = 0, k = 0;
            describe_nunchaku_w4a16_linear(file, prefix, &n, &k);
            info.parameter_count += static_cast<uint64_t>(t.numel) * 7;
            ++info.w4a16_layers;
            continue;
        }
        const NunchakuLinearShape s = describe_nunchaku_linear(file, prefix);
        info.parameter_count += static_cast<uint64_t>(t.numel);  // 2 nibbles per byte
        const int32_t keys = s.keys == nunchaku::Keys::V0 ? SVDQ_KEYS_NUNCHAKU_V0 : SVDQ_KEYS_DIFFUSERS;
        if (info.w4a4_layers == 0) {
            info.format = s.format;
            info.keys = keys;
            first_layer = prefix;
        }
        require(s.format == info.format, SVDQ_ERROR_FORMAT,
                file.path() + ": layer '" + prefix + "' is " + format_name(s.format) + " but layer '" + first_layer +
                    "' is " + format_name(info.format) + "; a checkpoint has one number format");
        require(keys == info.keys, SVDQ_ERROR_FORMAT,
                file.path() + ": layer '" + prefix + "' names its tensors in another style than layer '" + first_layer +
                    "' (lora_down/smooth versus proj_down/smooth_factor)");
        info.rank = std::max(info.rank, s.rank);
        ++info.w4a4_layers;
    }

    const auto quantization = read_quantization_config(file);
    if (quantization) {
        const std::string what = file.path() + ": __metadata__ 'quantization_config'";
        require(info.w4a4_layers > 0, SVDQ_ERROR_FORMAT,
                what + " declares " + format_name(quantization->format) +
                    " layers but no tensor '<layer>.qweight' of a W4A4 layer is in the file");
        require(quantization->format == info.format, SVDQ_ERROR_FORMAT,
                what + " declares " + format_name(quantization->format) + " but layer '" + first_layer + "' is " +
                    format_name(info.format));
    }

    if (info.w4a4_layers > 0)
        info.flavour = file.metadata().count(kProducerKey) ? SVDQ_FLAVOUR_SVDQUANT : nunchaku_flavour(info.format, info.keys);
    else if (diffusers_names)
        info.flavour = SVDQ_FLAVOUR_DIFFUSERS_FLOAT;
    return info;
}

}  // namespace svdq
