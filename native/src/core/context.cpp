#include "core/context.h"

#include <string>

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

}  // namespace

Context::Context(const svdq_context_options& options)
    : logger_(options.log_callback, options.log_user, options.log_level),
      pool_(checked_threads(options)),
      kernels_(&cpu_kernels_for(resolve_cpu_level(options.cpu_level))) {
    logger_.info(std::string("svdquant ") + SVDQ_VERSION_STRING + ": CPU backend, " + std::to_string(pool_.size()) +
                 " threads, " + cpu_level_name(kernels_->level) + " kernels (CPU supports " +
                 cpu_level_name(detected_cpu_level()) + ")");
}

}  // namespace svdq
