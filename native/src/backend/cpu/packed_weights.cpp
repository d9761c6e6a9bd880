#include "backend/cpu/packed_weights.h"

namespace svdq {

PackedWeights allocate_packed(int64_t n, int64_t k, size_t bytes) {
    PackedWeights p;
    p.n = n;
    p.k = k;
    p.data = aligned_zeroed(bytes);
    p.data_bytes = bytes;
    return p;
}

}  // namespace svdq
