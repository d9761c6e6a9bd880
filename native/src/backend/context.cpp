#include "backend/context.h"

#include <string>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_host_gemm.h"
#include "core/cpu_features.h"
#include "core/error.h"

namespace svdq {

namespace {

int checked_threads(const svdq_context_options& o) {
    require(o.num_threads >= 0 && o.num_threads <= 1024, SVDQ_ERROR_INVALID_ARGUMENT,
            "num_threads " + std::to_string(o.num_threads) + " must be 0 (one per core) or 1..1024");
    require(o.backend == SVDQ_BACKEND_CPU || o.backend == SVDQ_BACKEND_CUDA, SVDQ_ERROR_INVALID_ARGUMENT,
            "backend " + std::to_string(o.backend) + " is not a svdq_backend value");
    require(o.backend != SVDQ_BACKEND_CUDA, SVDQ_ERROR_UNSUPPORTED,
            "this build of libsvdquant has no CUDA backend; use SVDQ_BACKEND_CPU");
    require(o.log_level >= SVDQ_LOG_DEBUG && o.log_level <= SVDQ_LOG_ERROR, SVDQ_ERROR_INVALID_ARGUMENT,
            "log_level " + std::to_string(o.log_level) + " is not a svdq_log_level value");
    return o.num_threads;
}

std::unique_ptr<Backend> cpu_backend(ThreadPool& pool, svdq_cpu_level level) {
    return std::make_unique<CpuBackend>(pool, level);
}

}  // namespace

Context::Context(const svdq_context_options& options, const BackendFactory& make_backend)
    : logger_(options.log_callback, options.log_user, options.log_level),
      pool_(checked_threads(options)),
      backend_((make_backend ? make_backend : BackendFactory(cpu_backend))(pool_, resolve_cpu_level(options.cpu_level))),
      host_gemm_(make_cpu_host_gemm(resolve_cpu_level(options.cpu_level))),
      arena_(std::make_unique<Arena>(*backend_)) {
    logger_.info(std::string("svdquant ") + SVDQ_VERSION_STRING + ": " + backend_->description() + ", " +
                 std::to_string(pool_.size()) + " threads");
}

Context::~Context() = default;

float* Context::host_staging(size_t count) {
    if (host_staging_.size() < count) host_staging_.resize(count);
    return host_staging_.data();
}

}  // namespace svdq
