// A layer's weights in the layout one kernel level reads, made once at load
// time by that level's pack function. Only the level that packed it reads it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/aligned.h"

namespace svdq {

struct PackedWeights {
    int64_t n = 0, k = 0;
    AlignedBlock data;  // 64-byte aligned, level-specific order
    size_t data_bytes = 0;
    // BF16, as checkpoints store them (INT4 scales are BF16 values already):
    // half the memory of fp32, widened by the kernels as they load them.
    std::vector<uint16_t> scales;  // INT4 only, level-specific order
    std::vector<uint16_t> zeros;   // W4A16 with zero points only, in the order of scales

    const uint8_t* bytes() const { return static_cast<const uint8_t*>(data.get()); }
    const float* floats() const { return static_cast<const float*>(data.get()); }
    const uint16_t* halves() const { return static_cast<const uint16_t*>(data.get()); }  // BF16 data
    uint8_t* mutable_bytes() { return static_cast<uint8_t*>(data.get()); }
    float* mutable_floats() { return static_cast<float*>(data.get()); }
    uint16_t* mutable_halves() { return static_cast<uint16_t*>(data.get()); }
    uint64_t memory_bytes() const { return data_bytes + (scales.size() + zeros.size()) * sizeof(uint16_t); }
};

// Zero-filled, 64-byte aligned storage of `bytes` bytes.
PackedWeights allocate_packed(int64_t n, int64_t k, size_t bytes);

}  // namespace svdq
