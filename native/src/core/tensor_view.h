// A device-neutral view of a float matrix: where the values live (host memory
// or a backend's), their shape [rows, cols] and the distance between rows.
// Views own nothing; models pass them between backend ops and never touch
// backend memory themselves.
#pragma once

#include <cstdint>

namespace svdq {

enum class Memory : uint8_t {
    host,     // ordinary memory the caller owns
    backend,  // a backend's buffer: only that backend's ops may read or write it
};

struct TensorView {
    float* data = nullptr;
    int64_t rows = 0, cols = 0;
    int64_t row_stride = 0;  // floats from one row to the next (>= cols)
    Memory memory = Memory::host;

    static TensorView host(float* data, int64_t rows, int64_t cols) { return {data, rows, cols, cols, Memory::host}; }
    static TensorView host(const float* data, int64_t rows, int64_t cols) {
        return host(const_cast<float*>(data), rows, cols);  // read-only by the op's contract
    }

    bool contiguous() const { return row_stride == cols; }
    int64_t numel() const { return rows * cols; }
    // Rows [first, first + count): same memory, no copy.
    TensorView row_range(int64_t first, int64_t count) const {
        return {data + first * row_stride, count, cols, row_stride, memory};
    }
    // Columns [first, first + count) of every row: a strided view.
    TensorView column_range(int64_t first, int64_t count) const {
        return {data + first, rows, count, row_stride, memory};
    }
    // The same contiguous values seen as [rows, cols] (rows * cols = numel).
    TensorView reshaped(int64_t new_rows, int64_t new_cols) const {
        return {data, new_rows, new_cols, new_cols, memory};
    }
};

}  // namespace svdq
