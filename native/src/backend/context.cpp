#include "backend/context.h"

#include <string>

#include "backend/devices.h"
#include "backend/cpu/cpu_host_gemm.h"
#include "core/cpu_features.h"
#include "core/error.h"

namespace svdq {

namespace {

int checked_threads(const svdq_context_options& o) {
    require(o.num_threads >= 0 && o.num_threads <= 1024, SVDQ_ERROR_INVALID_ARGUMENT,
            "num_threads " + std::to_string(o.num_threads) + " must be 0 (one per core) or 1..1024");
    require(o.backend == SVDQ_BACKEND_CPU || o.backend == SVDQ_BACKEND_CUDA || o.backend == SVDQ_BACKEND_AUTO,
            SVDQ_ERROR_INVALID_ARGUMENT, "backend " + std::to_string(o.backend) + " is not a svdq_backend value");
    require(o.device >= 0, SVDQ_ERROR_INVALID_ARGUMENT, "device " + std::to_string(o.device) + " must be 0 or more");
    require(o.log_level >= SVDQ_LOG_DEBUG && o.log_level <= SVDQ_LOG_ERROR, SVDQ_ERROR_INVALID_ARGUMENT,
            "log_level " + std::to_string(o.log_level) + " is not a svdq_log_level value");
    return o.num_threads;
}

}  // namespace

Context::Context(const svdq_context_options& options, const BackendFactory& make_backend)
    : logger_(options.log_callback, options.log_user, options.log_level),
      pool_(checked_threads(options)),
      backend_(make_backend ? make_backend(pool_, resolve_cpu_level(options.cpu_level))
                            : svdq::make_backend(static_cast<svdq_backend>(options.backend), options.device, pool_,
                                                 resolve_cpu_level(options.cpu_level), logger_)),
      device_(backend_->kind() == SVDQ_BACKEND_CPU ? 0 : options.device),
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
