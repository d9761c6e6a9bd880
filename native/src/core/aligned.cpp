#include "core/aligned.h"

#include <cstdlib>
#include <cstring>
#include <new>
#if defined(_WIN32)
#include <malloc.h>
#endif

namespace svdq {

void AlignedFree::operator()(void* p) const noexcept {
#if defined(_WIN32)
    _aligned_free(p);
#else
    std::free(p);
#endif
}

AlignedBlock aligned_zeroed(size_t bytes) {
    const size_t size = bytes == 0 ? 64 : (bytes + 63) / 64 * 64;
    if (size < bytes) throw std::bad_alloc();
#if defined(_WIN32)
    void* p = _aligned_malloc(size, 64);
#else
    void* p = std::aligned_alloc(64, size);
#endif
    if (p == nullptr) throw std::bad_alloc();
    std::memset(p, 0, size);
    return AlignedBlock(p);
}

}  // namespace svdq
