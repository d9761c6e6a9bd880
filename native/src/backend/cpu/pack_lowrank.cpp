// The branch's projections in the layouts of each level's kernels, and back:
// the up-projection as the W4A4 GEMM reads it, the down-projection as the
// activation quantizer does. Plain C++: packing runs on any CPU.
#include "backend/cpu/cpu_kernels.h"
#include "core/half.h"

namespace svdq {

namespace {

// Where up[i, q] lies among the packed halves: [n/width][rank][width].
size_t packed_index(int64_t width, int64_t rank, int64_t i, int64_t q) {
    return static_cast<size_t>((i / width) * rank * width + q * width + i % width);
}

// m [rows, cols] row-major, transposed.
std::vector<uint16_t> transposed(const std::vector<uint16_t>& m, int64_t rows, int64_t cols) {
    std::vector<uint16_t> t(m.size());
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) t[static_cast<size_t>(j * rows + i)] = m[static_cast<size_t>(i * cols + j)];
    return t;
}

}  // namespace

PackedWeights pack_lowrank_up(const CpuKernels& kernels, const float* up, int64_t n, int64_t rank) {
    const int64_t width = kernels.lowrank_up_width;
    PackedWeights p = allocate_packed(n, rank, static_cast<size_t>((n + width - 1) / width * width * rank) * sizeof(uint16_t));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t q = 0; q < rank; ++q) p.mutable_halves()[packed_index(width, rank, i, q)] = float_to_bf16(up[i * rank + q]);
    return p;
}

std::vector<float> unpack_lowrank_up(const CpuKernels& kernels, const PackedWeights& packed, int64_t n, int64_t rank) {
    std::vector<float> up(static_cast<size_t>(n * rank));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t q = 0; q < rank; ++q)
            up[static_cast<size_t>(i * rank + q)] = bf16_to_float(packed.halves()[packed_index(kernels.lowrank_up_width, rank, i, q)]);
    return up;
}

std::vector<uint16_t> pack_lowrank_down(const CpuKernels& kernels, std::vector<uint16_t> down, int64_t rank, int64_t k) {
    return kernels.lowrank_down_k_major ? transposed(down, rank, k) : down;
}

std::vector<uint16_t> unpack_lowrank_down(const CpuKernels& kernels, const std::vector<uint16_t>& packed, int64_t rank, int64_t k) {
    return kernels.lowrank_down_k_major ? transposed(packed, k, rank) : packed;
}

const uint16_t* lowrank_down_from(const CpuKernels& kernels, const uint16_t* packed, int64_t rank, int64_t j0) {
    return packed + (kernels.lowrank_down_k_major ? j0 * rank : j0);
}

}  // namespace svdq
