// T5's relative position bias: each (query, key) pair's distance key - query
// falls in a bucket (exact for short distances, logarithmic up to
// max_distance, then the last bucket; separate buckets per direction when
// bidirectional), and each bucket holds one learned bias per head.
#pragma once

#include <cstdint>

namespace svdq {

// transformers' T5Attention._relative_position_bucket, in float32 as it computes.
int64_t t5_relative_position_bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets, int64_t max_distance);

// bias [heads * queries, keys] (head h's block at row h * queries) from the
// bidirectional buckets of `table` [num_buckets, heads], the
// relative_attention_bias embedding.
void t5_position_bias(const float* table, int64_t num_buckets, int64_t heads, int64_t max_distance, int64_t queries,
                      int64_t keys, float* bias);

}  // namespace svdq
