#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/epilogue.h"
#include "core/half.h"

namespace svdq {

namespace {

// The float GEMM over weights of type T, widened by `widen` (exactly for BF16).
template <class T, class Widen>
void gemm_float_weights(const GemmFloatArgs& a, const Tile& t, const T* weights, Widen widen) {
    const int64_t k = a.w->k, n_total = a.w->n;
    for (int64_t m = t.m0; m < t.m1; ++m) {
        const float* x = a.x + m * k;
        for (int64_t n = t.n0; n < t.n1; ++n) {
            const T* w = weights + n * k;
            float acc = 0.0f;
            for (int64_t j = 0; j < k; ++j) acc += x[j] * widen(w[j]);
            finish_store(acc, a.epilogue, m, n, a.y + m * n_total + n);
        }
    }
}

float as_is(float v) { return v; }

}  // namespace

void gemm_f32_scalar(const GemmFloatArgs& a, const Tile& t) { gemm_float_weights(a, t, a.w->floats(), as_is); }
void gemm_bf16_scalar(const GemmFloatArgs& a, const Tile& t, float* /*scratch*/) { gemm_float_weights(a, t, a.w->halves(), bf16_to_float); }

}  // namespace svdq
