// Rank-r truncated SVD of a weight matrix, W ~= up * down with up = U S
// [n, r] and down = V^T [r, k]: the 16-bit branch of SVDQuant.
#pragma once

#include <cstdint>
#include <vector>

namespace svdq {

class Context;

struct LowRank {
    int64_t rank = 0;
    std::vector<float> up;    // [n, rank]
    std::vector<float> down;  // [rank, k]
};

// Gram: the top eigenvectors of W W^T in float64, for few rows n. It squares
// the condition number, which is harmless for the dominant directions the
// branch keeps; the smoothing search scores its candidates with it.
enum class SvdMethod { Auto, Exact, Randomized, Gram };

// w: [n, k] row-major. Auto uses the randomized SVD (Halko et al., with
// oversampling and power iterations) when the rank is small next to the
// matrix, the exact SVD otherwise. The randomized SVD's large products run
// in float, on the context's float GEMM (SIMD, all its threads) when one is
// given; the small SVD at its end and the exact SVD run in float64.
LowRank lowrank_decompose(const float* w, int64_t n, int64_t k, int64_t rank, SvdMethod method = SvdMethod::Auto,
                          Context* ctx = nullptr);

}  // namespace svdq
