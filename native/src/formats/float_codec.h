// A file's float tensors to and from fp32. Sources may be unaligned
// (safetensors only aligns what its writer chose to), so values are read
// bytewise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace svdq {

bool is_float_dtype(int32_t dtype);  // F32, F16, BF16, F64, F8_E4M3, F8_E5M2

// Converts `count` values of `dtype` at `src` to float. Throws
// SVDQ_ERROR_DTYPE (naming `what`) for a dtype that is not a float format.
void decode_to_f32(int32_t dtype, const void* src, size_t count, float* dst, const char* what);

// The bytes of `values` as F32, F16 or BF16 (round to nearest even).
std::vector<uint8_t> encode_from_f32(const std::vector<float>& values, int32_t dtype);

}  // namespace svdq
