// Growing and shrinking row-major matrices: Nunchaku pads N, K and the rank
// before packing, and a loader crops back to the model's real sizes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace svdq {

// [rows, cols] -> [padded_rows, padded_cols], new cells set to `fill`.
template <class T>
std::vector<T> pad_matrix(const T* src, int64_t rows, int64_t cols, int64_t padded_rows, int64_t padded_cols, T fill) {
    std::vector<T> dst(static_cast<size_t>(padded_rows * padded_cols), fill);
    for (int64_t r = 0; r < rows; ++r) std::copy(src + r * cols, src + (r + 1) * cols, dst.begin() + r * padded_cols);
    return dst;
}

// The top-left [rows, cols] of a [src_rows, src_cols] matrix.
template <class T>
std::vector<T> crop_matrix(const std::vector<T>& src, int64_t src_cols, int64_t rows, int64_t cols) {
    std::vector<T> dst(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
        std::copy(src.begin() + r * src_cols, src.begin() + r * src_cols + cols, dst.begin() + r * cols);
    return dst;
}

inline int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

}  // namespace svdq
