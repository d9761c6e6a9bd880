#include "nn/embedding.h"

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/half.h"
#include "svdquant.h"

namespace svdq {

namespace {

size_t element_size(int32_t dtype, const std::string& name) {
    switch (dtype) {
        case SVDQ_DTYPE_F32: return 4;
        case SVDQ_DTYPE_F16:
        case SVDQ_DTYPE_BF16: return 2;
        default: fail(SVDQ_ERROR_DTYPE, name + ": an embedding table must be F32, F16 or BF16");
    }
}

void widen(int32_t dtype, const uint8_t* src, int64_t count, float* dst) {
    for (int64_t i = 0; i < count; ++i) {
        if (dtype == SVDQ_DTYPE_F32) {
            std::memcpy(dst + i, src + 4 * i, 4);
        } else {
            const uint16_t h = static_cast<uint16_t>(src[2 * i] | (src[2 * i + 1] << 8));
            dst[i] = dtype == SVDQ_DTYPE_F16 ? f16_to_float(h) : bf16_to_float(h);
        }
    }
}

}  // namespace

Embedding::Embedding(int32_t dtype, int64_t rows, int64_t cols, const uint8_t* bytes, std::string name)
    : dtype_(dtype), rows_(rows), cols_(cols), name_(std::move(name)) {
    const size_t size = element_size(dtype, name_) * static_cast<size_t>(rows * cols);
    data_.assign(bytes, bytes + size);
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
        widen(dtype_, data_.data() + element_size(dtype_, name_) * static_cast<size_t>(r * cols), cols, row.data());
        for (int64_t j = 0; j < cols; ++j)
            if (!std::isfinite(row[static_cast<size_t>(j)]))
                fail(SVDQ_ERROR_NON_FINITE, name_ + " holds a non-finite value at [" + std::to_string(r) + ", " + std::to_string(j) + "]");
    }
}

void Embedding::gather(const int64_t* ids, int64_t count, float* out) const {
    const size_t row_bytes = element_size(dtype_, name_) * static_cast<size_t>(cols_);
    for (int64_t i = 0; i < count; ++i) {
        if (ids[i] < 0 || ids[i] >= rows_)
            fail(SVDQ_ERROR_INVALID_ARGUMENT, "token id " + std::to_string(ids[i]) + " at flat index " + std::to_string(i) +
                                                  " is outside the vocabulary of " + std::to_string(rows_) + " (" + name_ + ")");
        widen(dtype_, data_.data() + row_bytes * static_cast<size_t>(ids[i]), cols_, out + i * cols_);
    }
}

}  // namespace svdq
