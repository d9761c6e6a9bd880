#include "backend/cpu/cpu_host_gemm.h"

#include <algorithm>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/cpu_ops.h"

namespace svdq {

namespace {

struct CpuHostMatrix final : HostMatrix {
    explicit CpuHostMatrix(PackedWeights p) : HostMatrix(p.n, p.k), packed(std::move(p)) {}
    PackedWeights packed;
};

class CpuHostGemm final : public HostGemm {
public:
    explicit CpuHostGemm(svdq_cpu_level level) : kernels_(cpu_kernels_for(level)) {}

    std::unique_ptr<HostMatrix> pack(const float* w, int64_t n, int64_t k) const override {
        return std::make_unique<CpuHostMatrix>(kernels_.pack_f32(w, n, k));
    }

    void multiply(const float* x, int64_t m, const HostMatrix& w, float* y) const override {
        kernels_.gemm_f32(args(x, m, w, y), {0, m, 0, w.n});
    }

    void multiply(const float* x, int64_t m, const HostMatrix& w, float* y, ThreadPool& pool) const override {
        run_gemm_f32(kernels_, pool, args(x, m, w, y));
    }

    // Row blocks of the micro-tile's height stop at the diagonal's 16-column
    // panel: 58% of the full product's work.
    void gram_lower(const float* x, const HostMatrix& packed_x, float* gram) const override {
        constexpr int64_t kRowBlock = 6;
        const int64_t n = packed_x.n;
        const GemmFloatArgs a = args(x, n, packed_x, gram);
        for (int64_t m0 = 0; m0 < n; m0 += kRowBlock) {
            const int64_t m1 = std::min(m0 + kRowBlock, n);
            kernels_.gemm_f32(a, {m0, m1, 0, std::min((m1 + 15) / 16 * 16, n)});
        }
    }

private:
    static GemmFloatArgs args(const float* x, int64_t m, const HostMatrix& w, float* y) {
        return {x, m, &static_cast<const CpuHostMatrix&>(w).packed, y, {}};
    }

    const CpuKernels& kernels_;
};

}  // namespace

std::unique_ptr<HostGemm> make_cpu_host_gemm(svdq_cpu_level level) { return std::make_unique<CpuHostGemm>(level); }

}  // namespace svdq
