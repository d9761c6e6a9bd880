// Tells what a checkpoint file holds (svdq_checkpoint_flavour) from its keys,
// dtypes and metadata, and checks that every layer this implies is complete.
#pragma once

#include <cstdint>

#include "formats/safetensors_file.h"
#include "svdquant.h"

namespace svdq {

struct CheckpointInfo {
    int32_t flavour = SVDQ_FLAVOUR_UNKNOWN;  // svdq_checkpoint_flavour
    svdq_number_format format = SVDQ_FORMAT_FLOAT;
    int32_t keys = SVDQ_KEYS_NONE;
    int64_t w4a4_layers = 0;
    int64_t w4a16_layers = 0;
    int64_t rank = 0;
    uint64_t parameter_count = 0;  // packed 4-bit weights count one per nibble
};

// SVDQ_ERROR_FORMAT (or _DTYPE) naming the file and the tensor when a layer
// is incomplete or inconsistent, or the metadata contradicts the tensors.
CheckpointInfo inspect_checkpoint(const SafeTensorsFile& file);

}  // namespace svdq
