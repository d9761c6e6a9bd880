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

enum class SvdMethod { Auto, Exact, Randomized };

// w: [n, k] row-major. Auto uses the randomized SVD (Halko et al., with
// oversampling and power iterations) when the rank is small next to the
// matrix, the exact SVD otherwise. The randomized SVD's large products run
// in float, on the context's float GEMM (SIMD, all its threads) when one is
// given; the small SVD at its end and the exact SVD run in float64.
LowRank lowrank_decompose(const float* w, int64_t n, int64_t k, int64_t rank, SvdMethod method = SvdMethod::Auto,
                          Context* ctx = nullptr);

// The eigenvectors of the `rank` largest eigenvalues of a symmetric [n, n]
// matrix (its lower triangle is read), as columns of [n, rank] row-major,
// largest first. Of a Gram matrix W W^T they span W's top-r left singular
// subspace: the smoothing search finds each candidate's branch this way (it
// squares the condition number, harmless for the dominant directions kept).
// Computed by inverse iteration on the tridiagonal form (see lowrank.cpp).
std::vector<float> top_eigenvectors(const float* symmetric, int64_t n, int64_t rank);

}  // namespace svdq
