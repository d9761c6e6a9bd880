// The text encoders' attention on the CPU: scores scale q k^T plus an additive
// bias per head and a bias per key (a padding mask), causal or not, then
// softmax and v, one query row at a time. Baseline code the compiler
// vectorises: a dot product per key would not vectorise without reordering
// its sum, so the scores accumulate along the keys against the head's K^T,
// and each value still sees a dot product's operations in their order (the
// same bits). The plain case (no bias, not causal, 1/sqrt(d)) is
// Backend::attention's blocked kernels.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "core/thread_pool.h"

namespace svdq {

namespace {

// One pool item: enough queries to amortise claiming it and transposing K.
constexpr int64_t kQueriesPerItem = 128;

// y[0, n) = the sum over rows r < count of c[r] x[r * stride + [0, n)], the
// rows added in turn, four per pass over y (a quarter of its loads and
// stores). Per element, a dot product's operations in their order. Inlined
// into each of its two calls, where it runs ~10% faster than called.
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
inline void sum_scaled_rows(const float* c, const float* x, int64_t stride, int64_t count, int64_t n, float* y) {
    std::fill(y, y + n, 0.0f);
    int64_t r = 0;
    for (; r + 4 <= count; r += 4) {
        const float c0 = c[r], c1 = c[r + 1], c2 = c[r + 2], c3 = c[r + 3];
        const float *x0 = x + r * stride, *x1 = x0 + stride, *x2 = x1 + stride, *x3 = x2 + stride;
        for (int64_t i = 0; i < n; ++i) y[i] = (((y[i] + c0 * x0[i]) + c1 * x1[i]) + c2 * x2[i]) + c3 * x3[i];
    }
    for (; r < count; ++r)
        for (int64_t i = 0; i < n; ++i) y[i] += c[r] * x[r * stride + i];
}

std::string shape(const TensorView& t) { return "[" + std::to_string(t.rows) + ", " + std::to_string(t.cols) + "]"; }

void check(const TensorView& q, const TensorView& k, const TensorView& v, int64_t head_dim, const AttentionBias& b,
           const TensorView& out) {
    for (const TensorView* t : {&q, &k, &v, &out})
        if (!t->contiguous()) fail(SVDQ_ERROR_INTERNAL, "biased_attention: q, k, v and out must be contiguous");
    if (head_dim < 1 || q.cols % head_dim != 0)
        fail(SVDQ_ERROR_INVALID_ARGUMENT, "biased_attention: head_dim " + std::to_string(head_dim) + " must divide the width " +
                                              std::to_string(q.cols));
    if (k.cols != q.cols || v.cols != q.cols || out.cols != q.cols || v.rows != k.rows || out.rows != q.rows)
        fail(SVDQ_ERROR_INTERNAL, "biased_attention: q " + shape(q) + ", k " + shape(k) + ", v " + shape(v) + " and out " +
                                      shape(out) + " do not fit together");
    const int64_t heads = q.cols / head_dim;
    if (b.bias.data != nullptr && (b.bias.rows != heads * q.rows || b.bias.cols != k.rows))
        fail(SVDQ_ERROR_INTERNAL, "biased_attention: bias " + shape(b.bias) + " must be [heads * q rows, k rows] = [" +
                                      std::to_string(heads * q.rows) + ", " + std::to_string(k.rows) + "]");
    if (b.key_bias.data != nullptr && (b.key_bias.rows != 1 || b.key_bias.cols != k.rows))
        fail(SVDQ_ERROR_INTERNAL, "biased_attention: key_bias " + shape(b.key_bias) + " must be [1, " + std::to_string(k.rows) + "]");
}

}  // namespace

void CpuBackend::biased_attention(const TensorView& q, const TensorView& k, const TensorView& v, int64_t head_dim,
                                  const AttentionBias& b, const TensorView& out) {
    check(q, k, v, head_dim, b, out);
    const int64_t width = q.cols, heads = width / head_dim, queries = q.rows, keys = k.rows;
    const int64_t blocks = (queries + kQueriesPerItem - 1) / kQueriesPerItem;
    pool_.parallel_for(heads * blocks, [&](int64_t item) {
        thread_local std::vector<float> buffer;  // K^T [head_dim][keys], then one query's scores; grows once per thread
        const size_t need = static_cast<size_t>((head_dim + 1) * keys);
        if (buffer.size() < need) buffer.resize(need);
        float* const kt = buffer.data();
        float* const scores = kt + head_dim * keys;
        const int64_t h = item / blocks, first = item % blocks * kQueriesPerItem;
        const int64_t last = std::min(queries, first + kQueriesPerItem);
        for (int64_t j = 0; j < (b.causal ? std::min(keys, last) : keys); ++j) {
            const float* kj = k.data + j * width + h * head_dim;
            for (int64_t d = 0; d < head_dim; ++d) kt[d * keys + j] = kj[d];
        }
        for (int64_t i = first; i < last; ++i) {
            const float* qi = q.data + i * width + h * head_dim;
            const int64_t seen = b.causal ? std::min(keys, i + 1) : keys;
            sum_scaled_rows(qi, kt, keys, head_dim, seen, scores);  // q k_j for every key j seen
            const float* bias_row = b.bias.data != nullptr ? b.bias.data + (h * queries + i) * b.bias.row_stride : nullptr;
            float max = -std::numeric_limits<float>::infinity();
            for (int64_t j = 0; j < seen; ++j) {
                float add = bias_row != nullptr ? bias_row[j] : 0.0f;
                if (b.key_bias.data != nullptr) add += b.key_bias.data[j];  // as transformers: the mask joins the bias first
                scores[j] = b.scale * scores[j] + add;
                max = std::max(max, scores[j]);
            }
            float sum = 0.0f;
            for (int64_t j = 0; j < seen; ++j) {
                scores[j] = std::exp(scores[j] - max);
                sum += scores[j];
            }
            float* o = out.data + i * width + h * head_dim;
            sum_scaled_rows(scores, v.data + h * head_dim, width, seen, head_dim, o);  // P V
            const float inv = 1.0f / sum;
            for (int64_t t = 0; t < head_dim; ++t) o[t] *= inv;
        }
    });
}

}  // namespace svdq
