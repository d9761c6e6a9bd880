#include "core/tensor.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/half.h"

namespace svdq {

size_t dtype_size(int32_t dtype) {
    switch (dtype) {
        case SVDQ_DTYPE_F32: return 4;
        case SVDQ_DTYPE_F16: return 2;
        case SVDQ_DTYPE_BF16: return 2;
        case SVDQ_DTYPE_I8: return 1;
        case SVDQ_DTYPE_U8: return 1;
        case SVDQ_DTYPE_I32: return 4;
        case SVDQ_DTYPE_I64: return 8;
        case SVDQ_DTYPE_F64: return 8;
        case SVDQ_DTYPE_I16: return 2;
        case SVDQ_DTYPE_BOOL: return 1;
        case SVDQ_DTYPE_F8_E4M3: return 1;
        case SVDQ_DTYPE_F8_E5M2: return 1;
        default: fail(SVDQ_ERROR_DTYPE, "unknown dtype " + std::to_string(dtype));
    }
}

const char* dtype_name(int32_t dtype) {
    switch (dtype) {
        case SVDQ_DTYPE_F32: return "F32";
        case SVDQ_DTYPE_F16: return "F16";
        case SVDQ_DTYPE_BF16: return "BF16";
        case SVDQ_DTYPE_I8: return "I8";
        case SVDQ_DTYPE_U8: return "U8";
        case SVDQ_DTYPE_I32: return "I32";
        case SVDQ_DTYPE_I64: return "I64";
        case SVDQ_DTYPE_F64: return "F64";
        case SVDQ_DTYPE_I16: return "I16";
        case SVDQ_DTYPE_BOOL: return "BOOL";
        case SVDQ_DTYPE_F8_E4M3: return "F8_E4M3";
        case SVDQ_DTYPE_F8_E5M2: return "F8_E5M2";
        default: return "unknown";
    }
}

void Tensor::set_shape(int32_t dtype, const int64_t* shape, int32_t ndim) {
    const size_t elem = dtype_size(dtype);
    require(ndim >= 0 && ndim <= SVDQ_MAX_DIMS, SVDQ_ERROR_INVALID_ARGUMENT,
            "ndim " + std::to_string(ndim) + " is outside 0.." + std::to_string(SVDQ_MAX_DIMS));
    require(ndim == 0 || shape != nullptr, SVDQ_ERROR_INVALID_ARGUMENT, "shape is NULL");
    dtype_ = dtype;
    ndim_ = ndim;
    shape_.assign(shape, shape + ndim);
    numel_ = 1;
    const int64_t limit = std::numeric_limits<int64_t>::max() / static_cast<int64_t>(elem);
    for (int32_t i = 0; i < ndim; ++i) {
        require(shape[i] >= 0, SVDQ_ERROR_SHAPE_MISMATCH,
                "dimension " + std::to_string(i) + " is negative (" + std::to_string(shape[i]) + ")");
        require(shape[i] == 0 || numel_ <= limit / shape[i], SVDQ_ERROR_SHAPE_MISMATCH,
                "shape " + shape_string() + " is too large");
        numel_ *= shape[i];
    }
    size_bytes_ = static_cast<uint64_t>(numel_) * elem;
}

Tensor::Tensor(int32_t dtype, const int64_t* shape, int32_t ndim) {
    set_shape(dtype, shape, ndim);
    owned_ = aligned_zeroed(static_cast<size_t>(size_bytes_));
    data_ = owned_.get();
}

Tensor::Tensor(int32_t dtype, const int64_t* shape, int32_t ndim, void* data, uint64_t size_bytes) {
    set_shape(dtype, shape, ndim);
    require(data != nullptr || size_bytes_ == 0, SVDQ_ERROR_INVALID_ARGUMENT, "data is NULL");
    require(size_bytes == size_bytes_, SVDQ_ERROR_SHAPE_MISMATCH,
            "buffer holds " + std::to_string(size_bytes) + " bytes but a " + dtype_name(dtype) + " tensor of shape " +
                shape_string() + " needs " + std::to_string(size_bytes_));
    data_ = data;
}

std::string shape_string(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

std::string Tensor::shape_string() const { return svdq::shape_string(shape_); }

void require_shape(const Tensor& t, const std::vector<int64_t>& expected, const std::string& what) {
    require(t.shape() == expected, SVDQ_ERROR_SHAPE_MISMATCH,
            what + " has shape " + t.shape_string() + ", expected " + shape_string(expected));
}

float* f32_output(Tensor& t, const std::vector<int64_t>& shape, const std::string& what) {
    require(t.dtype() == SVDQ_DTYPE_F32, SVDQ_ERROR_DTYPE, what + " must be F32, not " + dtype_name(t.dtype()));
    require_shape(t, shape, what);
    return t.f32_mut();
}

std::vector<float> to_float_checked(const Tensor& t, const char* what) {
    std::vector<float> out(static_cast<size_t>(t.numel()));
    const size_t n = out.size();
    switch (t.dtype()) {
        case SVDQ_DTYPE_F32: std::memcpy(out.data(), t.data(), n * sizeof(float)); break;
        case SVDQ_DTYPE_F16: {
            const auto* h = static_cast<const uint16_t*>(t.data());
            for (size_t i = 0; i < n; ++i) out[i] = f16_to_float(h[i]);
            break;
        }
        case SVDQ_DTYPE_BF16: {
            const auto* h = static_cast<const uint16_t*>(t.data());
            for (size_t i = 0; i < n; ++i) out[i] = bf16_to_float(h[i]);
            break;
        }
        default:
            fail(SVDQ_ERROR_DTYPE, std::string(what) + " must be F32, F16 or BF16, not " + dtype_name(t.dtype()));
    }
    require_finite(out.data(), n, what);
    return out;
}

void require_finite(const float* values, size_t count, const std::string& what) {
    for (size_t i = 0; i < count; ++i)
        if (!std::isfinite(values[i]))
            fail(SVDQ_ERROR_NON_FINITE,
                 what + " holds a non-finite value (" + value_text(values[i]) + ") at flat index " + std::to_string(i));
}

}  // namespace svdq
