// An engine context: the backend, its thread pool and kernels, the host's
// logger and scratch memory reused across calls. One thread at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "backend/cpu/cpu_kernels.h"
#include "core/logger.h"
#include "core/thread_pool.h"
#include "svdquant.h"

namespace svdq {

struct Scratch {
    std::vector<int8_t> act_q;
    std::vector<float> act_scales;
    std::vector<int32_t> act_sums;
    std::vector<float> lowrank_act;
    std::vector<float> branch_out;  // unfused branch only
};

class Context {
public:
    explicit Context(const svdq_context_options& options);

    svdq_backend backend() const { return SVDQ_BACKEND_CPU; }
    svdq_cpu_level cpu_level() const { return kernels_->level; }
    const CpuKernels& kernels() const { return *kernels_; }
    ThreadPool& pool() { return pool_; }
    const Logger& logger() const { return logger_; }
    Scratch& scratch() { return scratch_; }

private:
    Logger logger_;
    ThreadPool pool_;
    const CpuKernels* kernels_;
    Scratch scratch_;
};

}  // namespace svdq

struct svdq_context : svdq::Context {
    using svdq::Context::Context;
    std::atomic<bool> in_call{false};  // set while a C API call runs on this context
};
