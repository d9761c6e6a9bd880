// 64-byte aligned, zero-filled heap blocks (cache-line and AVX-512 aligned).
#pragma once

#include <cstddef>
#include <memory>

namespace svdq {

struct AlignedFree {
    void operator()(void* p) const noexcept;
};

using AlignedBlock = std::unique_ptr<void, AlignedFree>;

// Throws std::bad_alloc when the memory is not there.
AlignedBlock aligned_zeroed(size_t bytes);

}  // namespace svdq
