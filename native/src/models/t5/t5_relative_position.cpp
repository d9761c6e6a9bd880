#include "models/t5/t5_relative_position.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

namespace svdq {

int64_t t5_relative_position_bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets, int64_t max_distance) {
    int64_t bucket = 0;
    if (bidirectional) {
        num_buckets /= 2;
        if (relative_position > 0) bucket += num_buckets;
        relative_position = std::llabs(relative_position);
    } else {
        relative_position = -std::min<int64_t>(relative_position, 0);
    }
    const int64_t max_exact = num_buckets / 2;
    if (relative_position < max_exact) return bucket + relative_position;
    // torch: max_exact + (log(rp.float() / max_exact) / math.log(max_distance / max_exact)
    // * (num_buckets - max_exact)).to(long), each step in float32 (the Python
    // scalars become float32 operands), truncated toward zero.
    const float ratio = static_cast<float>(relative_position) / static_cast<float>(max_exact);
    const float range = static_cast<float>(std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)));
    const float scaled = std::log(ratio) / range * static_cast<float>(num_buckets - max_exact);
    const int64_t large = max_exact + static_cast<int64_t>(scaled);
    return bucket + std::min(large, num_buckets - 1);
}

void t5_position_bias(const float* table, int64_t num_buckets, int64_t heads, int64_t max_distance, int64_t queries,
                      int64_t keys, float* bias) {
    // One bucket per distance key - query, -(queries - 1) .. keys - 1: a
    // head's bias is constant along each diagonal, so its row i is the
    // window of the per-distance values starting at distance -i.
    const int64_t distances = queries + keys - 1;
    std::vector<int64_t> bucket(static_cast<size_t>(distances));
    for (int64_t r = 0; r < distances; ++r)
        bucket[static_cast<size_t>(r)] = t5_relative_position_bucket(r - (queries - 1), /*bidirectional=*/true, num_buckets, max_distance);
    std::vector<float> by_distance(static_cast<size_t>(distances));
    for (int64_t h = 0; h < heads; ++h) {
        for (int64_t r = 0; r < distances; ++r)
            by_distance[static_cast<size_t>(r)] = table[bucket[static_cast<size_t>(r)] * heads + h];
        for (int64_t i = 0; i < queries; ++i) {
            const float* window = by_distance.data() + (queries - 1 - i);
            std::copy(window, window + keys, bias + (h * queries + i) * keys);
        }
    }
}

}  // namespace svdq
