// A token embedding table kept as its checkpoint stores it (F32, F16 or
// BF16: a 16-bit table stays 16-bit in memory) and widened to float row by
// row as tokens are looked up.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace svdq {

class Embedding {
public:
    // `bytes` holds rows * cols values of `dtype` (svdq_dtype F32, F16 or BF16,
    // little-endian, maybe unaligned); `name` (file and tensor) prefixes errors.
    // Non-finite values are refused (SVDQ_ERROR_NON_FINITE), as for every weight.
    Embedding(int32_t dtype, int64_t rows, int64_t cols, const uint8_t* bytes, std::string name);

    int64_t rows() const { return rows_; }
    int64_t cols() const { return cols_; }
    int32_t dtype() const { return dtype_; }
    uint64_t memory_bytes() const { return data_.size(); }

    // out [count, cols] = the rows of `ids`; an id outside [0, rows) is
    // SVDQ_ERROR_INVALID_ARGUMENT naming it, its index in `ids` and the vocabulary size.
    void gather(const int64_t* ids, int64_t count, float* out) const;

private:
    int32_t dtype_;
    int64_t rows_, cols_;
    std::vector<uint8_t> data_;
    std::string name_;
};

}  // namespace svdq
