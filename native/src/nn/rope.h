// Rotary position embedding tables over several position axes (FLUX: 3 axes
// of ids), for the backend's rope op, which rotates interleaved pairs
// (x[2i], x[2i+1]). Computed on the host from the position ids.
#pragma once

#include <cstdint>
#include <vector>

namespace svdq {

// ids: [tokens, axes.size()] positions; axis i takes axes[i] of the head dims
// with frequencies theta^(-2j / axes[i]). cos and sin receive [tokens, dim]
// (dim = the sum of axes), each pair's angle repeated twice.
void rope_tables(const float* ids, int64_t tokens, const std::vector<int64_t>& axes, double theta, float* cos, float* sin);

}  // namespace svdq
