// Rank-r truncated SVD of a weight matrix, W ~= up * down with up = U S
// [n, r] and down = V^T [r, k]: the 16-bit branch of SVDQuant.
#pragma once

#include <cstdint>
#include <vector>

namespace svdq {

struct LowRank {
    int64_t rank = 0;
    std::vector<float> up;    // [n, rank]
    std::vector<float> down;  // [rank, k]
};

enum class SvdMethod { Auto, Exact, Randomized };

// w: [n, k] row-major. Auto uses the randomized SVD (Halko et al., with
// oversampling and power iterations) when the rank is small next to the
// matrix, the exact SVD otherwise.
LowRank lowrank_decompose(const float* w, int64_t n, int64_t k, int64_t rank, SvdMethod method = SvdMethod::Auto);

}  // namespace svdq
