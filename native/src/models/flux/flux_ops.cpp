#include "models/flux/flux_ops.h"

#include "backend/context.h"

namespace svdq {

TensorView modulated_norm(Context& ctx, const TensorView& x, int64_t batch, int64_t tokens, const TensorView& mod,
                          int64_t shift_chunk, int64_t scale_chunk) {
    const int64_t d = x.cols;
    const TensorView out = ctx.arena().matrix(x.rows, d);
    for (int64_t b = 0; b < batch; ++b)
        ctx.backend().layer_norm_modulate(x.row_range(b * tokens, tokens), modulation_chunk(mod, b, scale_chunk, d),
                                          modulation_chunk(mod, b, shift_chunk, d), kFluxNormEps,
                                          out.row_range(b * tokens, tokens));
    return out;
}

TensorView joint_attention(Context& ctx, const TensorView& q, const TensorView& k, const TensorView& v, int64_t batch,
                           int64_t tokens, int64_t head_dim, AttentionPrecision precision) {
    const TensorView out = ctx.arena().matrix(q.rows, q.cols);
    for (int64_t b = 0; b < batch; ++b) {
        const TensorView rows = out.row_range(b * tokens, tokens);
        ctx.backend().attention(q.row_range(b * tokens, tokens), k.row_range(b * tokens, tokens), v.row_range(b * tokens, tokens),
                                head_dim, precision, rows);
    }
    return out;
}

void copy_rows(Context& ctx, const TensorView& src, int64_t src_row, const TensorView& dst, int64_t dst_row, int64_t rows) {
    ctx.backend().copy(src.row_range(src_row, rows), dst.row_range(dst_row, rows));
}

}  // namespace svdq
