#include "formats/float_codec.h"

#include <cstring>
#include <string>

#include "core/error.h"
#include "core/half.h"
#include "core/tensor.h"
#include "core/numerics/fp8.h"

namespace svdq {

namespace {

template <class T, class Convert>
void widen(const uint8_t* src, size_t count, float* dst, Convert convert) {
    for (size_t i = 0; i < count; ++i) {
        T v;
        std::memcpy(&v, src + i * sizeof(T), sizeof(T));
        dst[i] = convert(v);
    }
}

template <class T, class Convert>
std::vector<uint8_t> narrow(const std::vector<float>& values, Convert convert) {
    std::vector<uint8_t> bytes(values.size() * sizeof(T));
    for (size_t i = 0; i < values.size(); ++i) {
        const T v = convert(values[i]);
        std::memcpy(bytes.data() + i * sizeof(T), &v, sizeof(T));
    }
    return bytes;
}

}  // namespace

bool is_float_dtype(int32_t dtype) {
    switch (dtype) {
        case SVDQ_DTYPE_F32:
        case SVDQ_DTYPE_F16:
        case SVDQ_DTYPE_BF16:
        case SVDQ_DTYPE_F64:
        case SVDQ_DTYPE_F8_E4M3:
        case SVDQ_DTYPE_F8_E5M2: return true;
        default: return false;
    }
}

void decode_to_f32(int32_t dtype, const void* src, size_t count, float* dst, const char* what) {
    const auto* s = static_cast<const uint8_t*>(src);
    switch (dtype) {
        case SVDQ_DTYPE_F32: std::memcpy(dst, s, count * sizeof(float)); break;
        case SVDQ_DTYPE_F16: widen<uint16_t>(s, count, dst, f16_to_float); break;
        case SVDQ_DTYPE_BF16: widen<uint16_t>(s, count, dst, bf16_to_float); break;
        case SVDQ_DTYPE_F64: widen<double>(s, count, dst, [](double v) { return static_cast<float>(v); }); break;
        case SVDQ_DTYPE_F8_E4M3: widen<uint8_t>(s, count, dst, e4m3_to_float); break;
        case SVDQ_DTYPE_F8_E5M2: widen<uint8_t>(s, count, dst, e5m2_to_float); break;
        default:
            fail(SVDQ_ERROR_DTYPE, std::string(what) + " is " + dtype_name(dtype) +
                                       ", not a float dtype (F32, F16, BF16, F64, F8_E4M3, F8_E5M2)");
    }
}

std::vector<uint8_t> encode_from_f32(const std::vector<float>& values, int32_t dtype) {
    switch (dtype) {
        case SVDQ_DTYPE_F32: return narrow<float>(values, [](float v) { return v; });
        case SVDQ_DTYPE_F16: return narrow<uint16_t>(values, float_to_f16);
        case SVDQ_DTYPE_BF16: return narrow<uint16_t>(values, float_to_bf16);
        default: fail(SVDQ_ERROR_DTYPE, std::string("cannot store floats as ") + dtype_name(dtype));
    }
}

}  // namespace svdq
