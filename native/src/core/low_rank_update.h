// A LoRA-style low-rank term on one linear: y += scale * (x down^T) up^T,
// added before the layer's activation; down reads the layer's raw input.
#pragma once

#include <cstdint>
#include <vector>

namespace svdq {

struct LowRankUpdate {
    int64_t rank = 0;
    std::vector<float> down;  // [rank, in_features]
    std::vector<float> up;    // [out_features, rank]
    float scale = 1.0f;       // strength * alpha / rank
};

}  // namespace svdq
