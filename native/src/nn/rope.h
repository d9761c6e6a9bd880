// Rotary position embedding over several position axes (FLUX: 3 axes of
// ids), rotating interleaved pairs (x[2i], x[2i+1]).
#pragma once

#include <cstdint>
#include <vector>

namespace svdq {

struct RopeTables {
    int64_t tokens = 0, dim = 0;
    std::vector<float> cos, sin;  // [tokens, dim], each pair's angle repeated twice
};

// ids: [tokens, axes.size()] positions; axis i takes axes[i] of the head dims
// with frequencies theta^(-2j / axes[i]).
RopeTables rope_tables(const float* ids, int64_t tokens, const std::vector<int64_t>& axes, double theta);

// In place on x [tokens, heads, dim].
void apply_rope(float* x, int64_t heads, const RopeTables& t);

}  // namespace svdq
