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

// For std::vector buffers that SIMD kernels load with aligned instructions.
template <class T>
struct AlignedAllocator {
    using value_type = T;
    AlignedAllocator() = default;
    template <class U>
    AlignedAllocator(const AlignedAllocator<U>&) noexcept {}
    T* allocate(size_t count) { return static_cast<T*>(aligned_zeroed(count * sizeof(T)).release()); }
    void deallocate(T* p, size_t) noexcept { AlignedFree()(p); }
    template <class U>
    bool operator==(const AlignedAllocator<U>&) const noexcept { return true; }
    template <class U>
    bool operator!=(const AlignedAllocator<U>&) const noexcept { return false; }
};

}  // namespace svdq
