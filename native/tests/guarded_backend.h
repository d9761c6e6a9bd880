// A test backend whose memory host code cannot touch: every buffer is mapped
// inaccessible (PROT_NONE, PAGE_NOACCESS) except while one of this backend's own ops runs, and the ops
// delegate to the CPU backend. A model that reads or writes backend memory
// from the host outside an op (a loop in nn/ or models/) crashes with
// SIGSEGV; an op handed host memory instead of the backend's is an error.
#pragma once

#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#else
#include <sys/mman.h>
#include <unistd.h>
#endif

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"

namespace svdq::test {

// Pages no code may touch until opened, per OS.
namespace guarded_pages {
#ifdef _WIN32
inline size_t page_size() {
    SYSTEM_INFO info;
    GetSystemInfo(&info);
    return info.dwPageSize;
}
inline void* map(size_t size) { return VirtualAlloc(nullptr, size, MEM_RESERVE | MEM_COMMIT, PAGE_NOACCESS); }
inline void unmap(void* data, size_t) { VirtualFree(data, 0, MEM_RELEASE); }
inline bool protect(void* data, size_t size, bool open) {
    DWORD old = 0;
    return VirtualProtect(data, size, open ? PAGE_READWRITE : PAGE_NOACCESS, &old) != 0;
}
#else
inline size_t page_size() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }
inline void* map(size_t size) {
    void* data = mmap(nullptr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return data == MAP_FAILED ? nullptr : data;
}
inline void unmap(void* data, size_t size) { munmap(data, size); }
inline bool protect(void* data, size_t size, bool open) {
    return mprotect(data, size, open ? PROT_READ | PROT_WRITE : PROT_NONE) == 0;
}
#endif
}  // namespace guarded_pages

class GuardedBackend final : public Backend {
public:
    GuardedBackend(ThreadPool& pool, svdq_cpu_level level) : cpu_(pool, level) {}
    ~GuardedBackend() override {
        for (const auto& [data, size] : regions_) guarded_pages::unmap(data, size);
    }

    uint64_t ops() const { return ops_; }
    size_t live_buffers() const { return regions_.size(); }

    svdq_backend kind() const override { return SVDQ_BACKEND_CPU; }
    svdq_cpu_level cpu_level() const override { return cpu_.cpu_level(); }
    std::string description() const override { return "guarded test backend over the " + cpu_.description(); }
    bool reads_host_memory() const override { return false; }

    void* allocate(size_t bytes) override {
        const size_t size = pages(bytes);
        void* data = guarded_pages::map(size);
        if (data == nullptr) throw std::bad_alloc();
        regions_[data] = size;
        return data;
    }
    void release(void* data, size_t) noexcept override {
        const auto it = regions_.find(data);
        if (it == regions_.end()) return;
        guarded_pages::unmap(it->first, it->second);
        regions_.erase(it);
    }
    void upload(const float* host, const TensorView& dst) override {
        const Open open(*this, {&dst});
        cpu_.upload(host, dst);
    }
    void download(const TensorView& src, float* host) override {
        const Open open(*this, {&src});
        cpu_.download(src, host);
    }
    void copy(const TensorView& src, const TensorView& dst) override {
        const Open open(*this, {&src, &dst});
        cpu_.copy(src, dst);
    }
    std::unique_ptr<PreparedLinear> prepare_linear(const LinearWeights& w) override { return cpu_.prepare_linear(w); }
    void linear(const PreparedLinear& layer, const TensorView& x, const TensorView& y) override {
        const Open open(*this, {&x, &y});
        cpu_.linear(layer, x, y);
    }
    void linear_gated(const PreparedLinear& layer, const TensorView& x, const GatedResidual& out) override {
        // An absent addend (no data) is checked as x, which is present.
        const Open open(*this, {&x, &out.residual, &out.gate, out.addend.data ? &out.addend : &x, &out.scratch});
        cpu_.linear_gated(layer, x, out);
    }
    void linear_qk_norm_rope(const PreparedLinear& layer, const TensorView& x, const TensorView& y, const QkNormRope& n) override {
        const Open open(*this, {&x, &y, &n.q_weight, &n.k_weight, &n.cos, &n.sin});
        cpu_.linear_qk_norm_rope(layer, x, y, n);
    }
    void mlp(const PreparedLinear& first, const PreparedLinear& second, const TensorView& x, const TensorView& hidden,
             const TensorView& y) override {
        const Open open(*this, {&x, &hidden, &y});
        cpu_.mlp(first, second, x, hidden, y);
    }
    void mlp_gated(const PreparedLinear& first, const PreparedLinear& second, const TensorView& x, const TensorView& hidden,
                   const GatedResidual& out) override {
        const Open open(*this, {&x, &hidden, &out.residual, &out.gate, out.addend.data ? &out.addend : &x, &out.scratch});
        cpu_.mlp_gated(first, second, x, hidden, out);
    }
    void attention(const TensorView& q, const TensorView& k, const TensorView& v, int64_t head_dim,
                   AttentionPrecision precision, const TensorView& out) override {
        const Open open(*this, {&q, &k, &v, &out});
        cpu_.attention(q, k, v, head_dim, precision, out);
    }
    void biased_attention(const TensorView& q, const TensorView& k, const TensorView& v, int64_t head_dim,
                          const AttentionBias& bias, const TensorView& out) override {
        // An absent bias (no data) is checked as q, which is present.
        const Open open(*this, {&q, &k, &v, &out, bias.bias.data ? &bias.bias : &q, bias.key_bias.data ? &bias.key_bias : &q});
        cpu_.biased_attention(q, k, v, head_dim, bias, out);
    }
    void layer_norm(const TensorView& x, const TensorView& weight, const TensorView& bias, float eps,
                    const TensorView& out) override {
        const Open open(*this, {&x, &weight, &bias, &out});
        cpu_.layer_norm(x, weight, bias, eps, out);
    }
    void activate(const TensorView& x, Activation activation) override {
        const Open open(*this, {&x});
        cpu_.activate(x, activation);
    }
    void multiply(const TensorView& x, const TensorView& other) override {
        const Open open(*this, {&x, &other});
        cpu_.multiply(x, other);
    }
    void layer_norm_modulate(const TensorView& x, const TensorView& scale, const TensorView& shift, float eps,
                             const TensorView& out) override {
        const Open open(*this, {&x, &scale, &shift, &out});
        cpu_.layer_norm_modulate(x, scale, shift, eps, out);
    }
    void rms_norm_heads(const TensorView& x, const TensorView& weight, float eps) override {
        const Open open(*this, {&x, &weight});
        cpu_.rms_norm_heads(x, weight, eps);
    }
    void rope(const TensorView& x, const TensorView& cos, const TensorView& sin) override {
        const Open open(*this, {&x, &cos, &sin});
        cpu_.rope(x, cos, sin);
    }
    void silu(const TensorView& x) override {
        const Open open(*this, {&x});
        cpu_.silu(x);
    }
    void group_norm(const TensorView& x, int64_t groups, const TensorView& weight, const TensorView& bias, float eps, bool silu,
                    const TensorView& out) override {
        const Open open(*this, {&x, &weight, &bias, &out});
        cpu_.group_norm(x, groups, weight, bias, eps, silu, out);
    }
    void conv3x3_patches(const TensorView& image, const ConvGeometry& geometry, int64_t first_out_row,
                         const TensorView& out) override {
        const Open open(*this, {&image, &out});
        cpu_.conv3x3_patches(image, geometry, first_out_row, out);
    }
    void add(const TensorView& x, const TensorView& update) override {
        const Open open(*this, {&x, &update});
        cpu_.add(x, update);
    }
    void gated_add(const TensorView& x, const TensorView& update, const TensorView& gate) override {
        const Open open(*this, {&x, &update, &gate});
        cpu_.gated_add(x, update, gate);
    }

private:
    static size_t pages(size_t bytes) {
        const size_t page = guarded_pages::page_size();
        return (bytes + page - 1) / page * page + (bytes == 0 ? page : 0);
    }

    // Every view an op receives must lie in one of this backend's buffers;
    // while the op runs, all buffers are readable and writable.
    class Open {
    public:
        Open(GuardedBackend& b, std::initializer_list<const TensorView*> views) : b_(b) {
            for (const TensorView* v : views) b_.require_inside(*v);
            ++b_.ops_;
            b_.protect(true);
        }
        ~Open() { b_.protect(false); }

    private:
        GuardedBackend& b_;
    };

    void protect(bool open) {
        for (const auto& [data, size] : regions_)
            if (!guarded_pages::protect(data, size, open)) std::abort();
    }
    void require_inside(const TensorView& v) const {
        const auto* first = reinterpret_cast<const char*>(v.data);
        const auto* last = reinterpret_cast<const char*>(v.data + (v.rows - 1) * v.row_stride + v.cols);
        auto it = regions_.upper_bound(const_cast<char*>(first));
        const bool inside = v.memory == Memory::backend && it != regions_.begin() &&
                            (--it, first >= static_cast<const char*>(it->first) &&
                                       last <= static_cast<const char*>(it->first) + it->second);
        if (v.numel() > 0 && !inside)
            throw std::logic_error("a backend op got a view outside the backend's memory (host memory passed as device memory)");
    }

    CpuBackend cpu_;
    std::map<void*, size_t> regions_;
    uint64_t ops_ = 0;
};

}  // namespace svdq::test
