// Float matrix products on host memory, for host-side math (the offline
// quantizer's SVDs, smoothing search and reference outputs). They run on the
// host CPU's best kernels whichever backend runs the model.
#pragma once

#include <cstdint>
#include <memory>

namespace svdq {

class ThreadPool;

// W [n, k], packed once for products x W^T; only the HostGemm that packed it reads it.
class HostMatrix {
public:
    HostMatrix(int64_t rows, int64_t cols) : n(rows), k(cols) {}
    virtual ~HostMatrix() = default;
    const int64_t n, k;
};

class HostGemm {
public:
    virtual ~HostGemm() = default;

    // w [n, k] row-major.
    virtual std::unique_ptr<HostMatrix> pack(const float* w, int64_t n, int64_t k) const = 0;
    // y [m, w.n] = x [m, w.k] W^T, on this thread (callers that run one product per thread).
    virtual void multiply(const float* x, int64_t m, const HostMatrix& w, float* y) const = 0;
    // The same product split over the pool's threads.
    virtual void multiply(const float* x, int64_t m, const HostMatrix& w, float* y, ThreadPool& pool) const = 0;
    // x x^T [n, n] for x = the packed matrix's own rows, on this thread; only the
    // lower triangle is defined (symmetric eigensolvers read no more).
    virtual void gram_lower(const float* x, const HostMatrix& packed_x, float* gram) const = 0;
};

}  // namespace svdq
