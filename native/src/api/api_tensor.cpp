#include <algorithm>

#include "api/api_guard.h"
#include "core/tensor.h"

using namespace svdq;

extern "C" {

SVDQ_API svdq_status svdq_tensor_create(int32_t dtype, const int64_t* shape, int32_t ndim, svdq_tensor** out_tensor) {
    return guarded(__func__, [&] {
        svdq_tensor*& out = deref(out_tensor, "out_tensor");
        out = nullptr;
        out = new svdq_tensor(dtype, shape, ndim);
    });
}

SVDQ_API svdq_status svdq_tensor_wrap(int32_t dtype, const int64_t* shape, int32_t ndim, void* data,
                                      uint64_t size_bytes, svdq_tensor** out_tensor) {
    return guarded(__func__, [&] {
        svdq_tensor*& out = deref(out_tensor, "out_tensor");
        out = nullptr;
        out = new svdq_tensor(dtype, shape, ndim, data, size_bytes);
    });
}

SVDQ_API svdq_status svdq_tensor_destroy(svdq_tensor* tensor) {
    return guarded(__func__, [&] { delete tensor; });
}

SVDQ_API svdq_status svdq_tensor_get_data(const svdq_tensor* tensor, void** out_data, uint64_t* out_size_bytes) {
    return guarded(__func__, [&] {
        const svdq_tensor& t = deref(tensor, "tensor");
        deref(out_data, "out_data") = t.data();
        if (out_size_bytes != nullptr) *out_size_bytes = t.size_bytes();
    });
}

SVDQ_API svdq_status svdq_tensor_get_shape(const svdq_tensor* tensor, int32_t* out_dtype, int32_t* out_ndim,
                                           int64_t* out_shape) {
    return guarded(__func__, [&] {
        const svdq_tensor& t = deref(tensor, "tensor");
        if (out_dtype != nullptr) *out_dtype = t.dtype();
        if (out_ndim != nullptr) *out_ndim = t.ndim();
        if (out_shape != nullptr) {
            std::fill(out_shape, out_shape + SVDQ_MAX_DIMS, int64_t{0});
            std::copy(t.shape().begin(), t.shape().end(), out_shape);
        }
    });
}

}  // extern "C"
