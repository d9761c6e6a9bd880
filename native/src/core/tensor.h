// Host tensors: a dtype, a shape and bytes that are either owned (64-byte
// aligned, zeroed) or borrowed from the caller.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/aligned.h"
#include "svdquant.h"

namespace svdq {

size_t dtype_size(int32_t dtype);  // throws on an unknown dtype
const char* dtype_name(int32_t dtype);  // the safetensors name: "F32", "BF16", "F8_E4M3", ...
std::string shape_string(const std::vector<int64_t>& shape);  // e.g. "[2, 64]"

class Tensor {
public:
    // Owned, zero-filled.
    Tensor(int32_t dtype, const int64_t* shape, int32_t ndim);
    // Borrowed: data must hold exactly the tensor's bytes and outlive it.
    Tensor(int32_t dtype, const int64_t* shape, int32_t ndim, void* data, uint64_t size_bytes);

    int32_t dtype() const { return dtype_; }
    int32_t ndim() const { return ndim_; }
    int64_t dim(int32_t i) const { return shape_[static_cast<size_t>(i)]; }
    const std::vector<int64_t>& shape() const { return shape_; }
    int64_t numel() const { return numel_; }
    uint64_t size_bytes() const { return size_bytes_; }
    void* data() const { return data_; }
    const float* f32() const { return static_cast<const float*>(data_); }
    float* f32_mut() const { return static_cast<float*>(data_); }

    std::string shape_string() const;  // e.g. "[2, 64]"

private:
    void set_shape(int32_t dtype, const int64_t* shape, int32_t ndim);

    int32_t dtype_ = SVDQ_DTYPE_F32;
    int32_t ndim_ = 0;
    std::vector<int64_t> shape_;
    int64_t numel_ = 0;
    uint64_t size_bytes_ = 0;
    void* data_ = nullptr;
    AlignedBlock owned_;
};

// SVDQ_ERROR_SHAPE_MISMATCH "<what> has shape [..], expected [..]" unless
// t has exactly `expected`.
void require_shape(const Tensor& t, const std::vector<int64_t>& expected, const std::string& what);

// An output the caller provides: its F32 values, once t is checked to be F32
// of exactly `shape` (errors name `what`).
float* f32_output(Tensor& t, const std::vector<int64_t>& shape, const std::string& what);

// SVDQ_ERROR_NON_FINITE "<what> holds a non-finite value (NaN) at flat index i"
// for the first NaN or Inf among `count` values.
void require_finite(const float* values, size_t count, const std::string& what);

// The tensor's values as float (F32, F16 or BF16 accepted), checked finite.
// `what` names the tensor in error messages.
std::vector<float> to_float_checked(const Tensor& t, const char* what);

}  // namespace svdq

// The opaque C handle is the tensor itself.
struct svdq_tensor : svdq::Tensor {
    using svdq::Tensor::Tensor;
};
