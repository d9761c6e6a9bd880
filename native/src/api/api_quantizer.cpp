#include <algorithm>
#include <cmath>
#include <cstring>

#include "api/api_guard.h"
#include "core/context.h"
#include "core/tensor.h"
#include "quant/lowrank.h"
#include "quant/smoothing.h"

using namespace svdq;

namespace {

// A 2-D float matrix read from any float dtype, checked finite.
struct Matrix {
    int64_t rows, cols;
    std::vector<float> values;
};

Matrix matrix_of(const svdq_tensor* t, const char* what) {
    const Tensor& tensor = deref(t, what);
    require(tensor.ndim() == 2 && tensor.dim(0) > 0 && tensor.dim(1) > 0, SVDQ_ERROR_SHAPE_MISMATCH,
            std::string(what) + " must be a non-empty 2-D tensor, got " + tensor.shape_string());
    return {tensor.dim(0), tensor.dim(1), to_float_checked(tensor, what)};
}

void write_f32(svdq_tensor* t, std::initializer_list<int64_t> shape, const std::vector<float>& values, const char* what) {
    Tensor& out = deref(t, what);
    const std::vector<int64_t> want(shape);
    std::string want_s = "[";
    for (size_t i = 0; i < want.size(); ++i) want_s += (i ? ", " : "") + std::to_string(want[i]);
    want_s += "]";
    require(out.dtype() == SVDQ_DTYPE_F32, SVDQ_ERROR_DTYPE, std::string(what) + " must be F32, not " + dtype_name(out.dtype()));
    require(out.shape() == want, SVDQ_ERROR_SHAPE_MISMATCH,
            std::string(what) + " has shape " + out.shape_string() + ", expected " + want_s);
    std::memcpy(out.data(), values.data(), values.size() * sizeof(float));
}

}  // namespace

extern "C" {

SVDQ_API svdq_status svdq_smooth_compute(svdq_context* context, const svdq_tensor* x, const svdq_tensor* weight,
                                         float alpha, float beta, svdq_tensor* out_smooth) {
    return guarded(__func__, [&] {
        svdq_context& ctx = deref(context, "context");
        require(std::isfinite(alpha) && std::isfinite(beta) && alpha >= 0 && beta >= 0, SVDQ_ERROR_INVALID_ARGUMENT,
                "alpha and beta must be finite and non-negative");
        const Matrix xm = matrix_of(x, "x");
        const Matrix wm = matrix_of(weight, "weight");
        require(xm.cols == wm.cols, SVDQ_ERROR_SHAPE_MISMATCH,
                "x has " + std::to_string(xm.cols) + " columns but weight has K = " + std::to_string(wm.cols));
        write_f32(out_smooth, {wm.cols},
                  compute_smoothing(xm.values.data(), xm.rows, wm.values.data(), wm.rows, wm.cols, alpha, beta, ctx.pool()),
                  "out_smooth");
    });
}

SVDQ_API svdq_status svdq_lowrank_decompose(svdq_context* context, const svdq_tensor* weight,
                                            const svdq_tensor* smooth, int32_t rank, svdq_tensor* out_up,
                                            svdq_tensor* out_down) {
    return guarded(__func__, [&] {
        deref(context, "context");
        Matrix wm = matrix_of(weight, "weight");
        if (smooth != nullptr) {
            const Tensor& s = *smooth;
            require(s.ndim() == 1 && s.dim(0) == wm.cols, SVDQ_ERROR_SHAPE_MISMATCH,
                    "smooth has shape " + s.shape_string() + ", expected [" + std::to_string(wm.cols) + "]");
            const std::vector<float> lambda = to_float_checked(s, "smooth");
            for (int64_t i = 0; i < wm.rows; ++i)
                for (int64_t j = 0; j < wm.cols; ++j) wm.values[static_cast<size_t>(i * wm.cols + j)] *= lambda[static_cast<size_t>(j)];
        }
        const LowRank lr = lowrank_decompose(wm.values.data(), wm.rows, wm.cols, rank);
        write_f32(out_up, {wm.rows, rank}, lr.up, "out_up");
        write_f32(out_down, {rank, wm.cols}, lr.down, "out_down");
    });
}

}  // extern "C"
