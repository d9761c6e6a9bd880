// The __metadata__ of a single-file Nunchaku checkpoint (as written by
// nunchaku/merge_safetensors.py): "config" (the diffusers config.json text),
// "quantization_config" (JSON: method, weight/activation dtype and group
// size, rank) and "model_class"; files this engine writes also carry
// kProducerKey so they can be told apart.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "formats/safetensors_file.h"
#include "formats/safetensors_writer.h"
#include "svdquant.h"

namespace svdq {

constexpr const char* kProducerKey = "svdquant_interop";

struct QuantizationConfig {
    svdq_number_format format = SVDQ_FORMAT_FLOAT;
    int64_t group_size = 0;
    int64_t rank = 0;
};

// Parses "quantization_config" when the file has one; SVDQ_ERROR_FORMAT
// naming the file and the entry when it is malformed. "config", when
// present, must be well-formed JSON too.
std::optional<QuantizationConfig> read_quantization_config(const SafeTensorsFile& file);

// Sets the metadata Nunchaku's loaders read, plus our producer mark.
// `config_json` (diffusers config.json text) and `model_class` are left out when empty.
void set_nunchaku_metadata(SafeTensorsWriter& writer, svdq_number_format format, int64_t rank, const std::string& config_json,
                           const std::string& model_class);

}  // namespace svdq
