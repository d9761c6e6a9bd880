// Row operations shared by the FLUX blocks and the model around them, on
// views of the context's backend; results live in the context's arena.
#pragma once

#include <cstdint>

#include "backend/backend.h"
#include "core/tensor_view.h"

namespace svdq {

class Context;

constexpr float kFluxNormEps = 1e-6f;  // every LayerNorm and q/k RMSNorm in FLUX

// RoPE angles of the joint sequence [tokens, head_dim], shared by the batch.
struct FluxRope {
    TensorView cos, sin;
};

// Chunk `chunk` (of width d) of batch b's modulation row: a [1, d] view.
inline TensorView modulation_chunk(const TensorView& mod, int64_t b, int64_t chunk, int64_t d) {
    return mod.row_range(b, 1).column_range(chunk * d, d);
}

// Rows [b * tokens, (b + 1) * tokens) of x [batch * tokens, d] normalised and
// modulated with chunks `scale_chunk` and `shift_chunk` of batch b's
// modulation row.
TensorView modulated_norm(Context& ctx, const TensorView& x, int64_t batch, int64_t tokens, const TensorView& mod,
                          int64_t shift_chunk, int64_t scale_chunk);

// Attention over `tokens` joint rows per batch item, q and k already
// normalised and rotated. q, k, v, result: [batch * tokens, heads * head_dim].
TensorView joint_attention(Context& ctx, const TensorView& q, const TensorView& k, const TensorView& v, int64_t batch,
                           int64_t tokens, int64_t head_dim, AttentionPrecision precision);

// Copies rows [src_row, src_row + rows) of src into dst at dst_row.
void copy_rows(Context& ctx, const TensorView& src, int64_t src_row, const TensorView& dst, int64_t dst_row, int64_t rows);

}  // namespace svdq
