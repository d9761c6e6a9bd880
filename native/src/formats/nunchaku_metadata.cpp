#include "formats/nunchaku_metadata.h"

#include "core/error.h"
#include "formats/json_text.h"
#include "svdquant.h"

namespace svdq {

namespace {

using json = nlohmann::json;

// Nunchaku's names for the two 4-bit formats.
constexpr const char* kInt4Name = "int4";
constexpr const char* kFp4Name = "fp4_e2m1_all";
constexpr const char* kFp8ScaleName = "fp8_e4m3_nan";

}  // namespace

std::optional<QuantizationConfig> read_quantization_config(const SafeTensorsFile& file) {
    const auto& metadata = file.metadata();
    if (const auto config = metadata.find("config"); config != metadata.end())
        parse_json(config->second, file.path() + ": __metadata__ 'config'");
    const auto entry = metadata.find("quantization_config");
    if (entry == metadata.end()) return std::nullopt;
    const std::string what = file.path() + ": __metadata__ 'quantization_config'";
    const json q = parse_json(entry->second, what);
    require(q.is_object(), SVDQ_ERROR_FORMAT, what + " is not a JSON object");
    QuantizationConfig result;
    const json weight = q.value("weight", json::object());
    const std::string dtype = weight.is_object() ? weight.value("dtype", std::string()) : std::string();
    if (dtype == kInt4Name)
        result.format = SVDQ_FORMAT_INT4;
    else if (dtype == kFp4Name)
        result.format = SVDQ_FORMAT_NVFP4;
    else
        fail(SVDQ_ERROR_FORMAT, what + " has weight dtype '" + dtype + "'; expected '" + kInt4Name + "' or '" + kFp4Name + "'");
    const json group = weight.value("group_size", json());
    const json rank = q.value("rank", json());
    require(group.is_number_unsigned() && (rank.is_null() || rank.is_number_unsigned()), SVDQ_ERROR_FORMAT,
            what + " needs a non-negative integer weight.group_size (and rank, when given)");
    result.group_size = group.get<int64_t>();
    result.rank = rank.is_null() ? 0 : rank.get<int64_t>();
    return result;
}

void set_nunchaku_metadata(SafeTensorsWriter& writer, svdq_number_format format, int64_t rank, const std::string& config_json,
                           const std::string& model_class) {
    const bool fp4 = format == SVDQ_FORMAT_NVFP4;
    const json dtype = fp4 ? kFp4Name : kInt4Name;
    const int64_t group = fp4 ? 16 : 64;
    const json quantization = {
        {"method", "svdquant"},
        {"weight", {{"dtype", dtype}, {"scale_dtype", fp4 ? json::array({nullptr, kFp8ScaleName}) : json()}, {"group_size", group}}},
        {"activation", {{"dtype", dtype}, {"scale_dtype", fp4 ? json(kFp8ScaleName) : json()}, {"group_size", group}}},
        {"rank", rank},
    };
    writer.set_metadata("quantization_config", quantization.dump());
    if (!config_json.empty()) {
        parse_json(config_json, "the model config");  // never write a file Nunchaku cannot parse
        writer.set_metadata("config", config_json);
    }
    if (!model_class.empty()) writer.set_metadata("model_class", model_class);
    writer.set_metadata(kProducerKey, json({{"format_version", 1}, {"engine", SVDQ_VERSION_STRING}}).dump());
}

}  // namespace svdq
