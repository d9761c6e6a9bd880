// Row-wise normalisations of the FLUX blocks (all with eps 1e-6 there).
#pragma once

#include <cstdint>

namespace svdq {

// out = LayerNorm(x) * (1 + scale) + shift per row of [rows, d], no affine
// weights (adaLN supplies them); scale and shift are [d], shared by the rows.
void layer_norm_modulate(const float* x, int64_t rows, int64_t d, const float* scale, const float* shift, float eps,
                         float* out);

// In place: each head_dim slice of each row is RMS-normalised and multiplied
// by weight [head_dim] (the q/k norms of FLUX attention).
void rms_norm_heads(float* x, int64_t rows, int64_t heads, int64_t head_dim, const float* weight, float eps);

}  // namespace svdq
