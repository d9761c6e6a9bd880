#include <cstring>

#include "backend/cpu/cpu_kernels.h"
#include "core/half.h"

namespace svdq {

PackedWeights pack_f32_scalar(const float* w, int64_t n, int64_t k) {
    PackedWeights p = allocate_packed(n, k, static_cast<size_t>(n * k) * sizeof(float));
    std::memcpy(p.mutable_floats(), w, p.data_bytes);
    return p;
}

PackedWeights pack_bf16_scalar(const float* w, int64_t n, int64_t k) {
    PackedWeights p = allocate_packed(n, k, static_cast<size_t>(n * k) * sizeof(uint16_t));
    for (int64_t i = 0; i < n * k; ++i) p.mutable_halves()[i] = float_to_bf16(w[i]);
    return p;
}

PackedWeights pack_int4_scalar(const Int4Matrix& w) {
    PackedWeights p = allocate_packed(w.rows, w.cols, w.packed.size());
    std::memcpy(p.mutable_bytes(), w.packed.data(), w.packed.size());
    p.scales = to_bf16(w.scales.data(), w.scales.size());
    return p;
}

PackedWeights pack_w4a16_scalar(const Int4Matrix& w, const float* zeros) {
    PackedWeights p = pack_int4_scalar(w);
    if (zeros != nullptr) p.zeros = to_bf16(zeros, w.scales.size());
    return p;
}

}  // namespace svdq
