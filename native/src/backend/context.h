// An engine context: the host's logger and threads, one backend, and the
// arena its activations live in. One thread at a time.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "backend/arena.h"
#include "backend/backend.h"
#include "backend/host_gemm.h"
#include "core/logger.h"
#include "core/thread_pool.h"
#include "svdquant.h"

namespace svdq {

// Builds a backend on the context's host threads at a CPU kernel level (tests
// pass their own; the C API's contexts get the options' backend and device).
using BackendFactory = std::function<std::unique_ptr<Backend>(ThreadPool& pool, svdq_cpu_level level)>;

class Context {
public:
    explicit Context(const svdq_context_options& options, const BackendFactory& make_backend = {});
    ~Context();

    Backend& backend() const { return *backend_; }
    int32_t device() const { return device_; }  // the GPU's ordinal; 0 on the CPU
    const Logger& logger() const { return logger_; }
    // Host threads for host-side work (loading, packing, the quantizer's math).
    ThreadPool& pool() { return pool_; }
    // Float products on host memory for host-side math, at the context's CPU level.
    const HostGemm& host_gemm() const { return *host_gemm_; }
    Arena& arena() { return *arena_; }
    // Host floats reused across calls for values computed on the host before
    // upload (position tables, timestep sinusoids): grows, never shrinks.
    float* host_staging(size_t count);

private:
    Logger logger_;
    ThreadPool pool_;
    std::unique_ptr<Backend> backend_;
    int32_t device_;
    std::unique_ptr<HostGemm> host_gemm_;
    std::unique_ptr<Arena> arena_;
    std::vector<float> host_staging_;
};

}  // namespace svdq

struct svdq_context : svdq::Context {
    using svdq::Context::Context;
    std::atomic<bool> in_call{false};  // set while a C API call runs on this context
};
