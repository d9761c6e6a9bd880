#include "models/flux/flux_ops.h"

#include <algorithm>
#include <cmath>

#include "core/context.h"
#include "nn/attention.h"
#include "nn/norms.h"
#include "nn/rope.h"

namespace svdq {

std::vector<float> silu(std::vector<float> v) {
    for (float& x : v) x = x / (1.0f + std::exp(-x));
    return v;
}

std::vector<float> modulated_norm(const std::vector<float>& x, int64_t batch, int64_t tokens, int64_t d,
                                  const std::vector<float>& mod, int64_t chunks, int64_t shift_chunk, int64_t scale_chunk) {
    std::vector<float> out(x.size());
    for (int64_t b = 0; b < batch; ++b) {
        const float* m = mod.data() + b * chunks * d;
        layer_norm_modulate(x.data() + b * tokens * d, tokens, d, m + scale_chunk * d, m + shift_chunk * d, kFluxNormEps,
                            out.data() + b * tokens * d);
    }
    return out;
}

void gated_add(std::vector<float>& x, const std::vector<float>& update, int64_t batch, int64_t tokens, int64_t d,
               const std::vector<float>& mod, int64_t chunks, int64_t gate_chunk) {
    for (int64_t b = 0; b < batch; ++b) {
        const float* gate = mod.data() + (b * chunks + gate_chunk) * d;
        for (int64_t s = 0; s < tokens; ++s) {
            float* row = x.data() + (b * tokens + s) * d;
            const float* u = update.data() + (b * tokens + s) * d;
            for (int64_t j = 0; j < d; ++j) row[j] += gate[j] * u[j];
        }
    }
}

void copy_rows(const std::vector<float>& src, int64_t src_row, std::vector<float>& dst, int64_t dst_row, int64_t rows, int64_t d) {
    std::copy(src.begin() + src_row * d, src.begin() + (src_row + rows) * d, dst.begin() + dst_row * d);
}

std::vector<float> take_columns(const std::vector<float>& x, int64_t rows, int64_t stride, int64_t col, int64_t width) {
    std::vector<float> out(static_cast<size_t>(rows * width));
    for (int64_t r = 0; r < rows; ++r)
        std::copy(x.begin() + r * stride + col, x.begin() + r * stride + col + width, out.begin() + r * width);
    return out;
}

std::vector<float> joint_attention(Context& ctx, std::vector<float> q, std::vector<float> k, const std::vector<float>& v,
                                   int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim, const RopeTables& rope) {
    const int64_t rows = tokens * heads * head_dim;
    std::vector<float> out(q.size());
    for (int64_t b = 0; b < batch; ++b) {
        apply_rope(q.data() + b * rows, heads, rope);
        apply_rope(k.data() + b * rows, heads, rope);
        attention(ctx, q.data() + b * rows, k.data() + b * rows, v.data() + b * rows, tokens, heads, head_dim,
                  out.data() + b * rows);
    }
    return out;
}

}  // namespace svdq
