#include "backend/devices.h"

#include <cstring>
#include <string>
#include <thread>

#include "backend/cpu/cpu_backend.h"
#include "backend/plugin/plugin_backend.h"
#include "backend/plugin/plugin_library.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "core/logger.h"

namespace svdq {

namespace {

void require_concrete(svdq_backend backend) {
    require(backend == SVDQ_BACKEND_CPU || backend == SVDQ_BACKEND_CUDA, SVDQ_ERROR_INVALID_ARGUMENT,
            "backend " + std::to_string(backend) + " is not a device backend (SVDQ_BACKEND_CPU or SVDQ_BACKEND_CUDA)");
}

// At least one usable CUDA device, or the plugin's reason why not.
int32_t cuda_device_count() {
    const svdq_backend_plugin& plugin = cuda_plugin();
    int32_t count = 0;
    check_plugin(plugin, plugin.device_count(&count), "device_count");
    require(count > 0, SVDQ_ERROR_UNSUPPORTED, "CUDA reports no usable GPU");
    return count;
}

void require_ordinal(int32_t ordinal, int32_t count, const char* backend) {
    require(ordinal >= 0 && ordinal < count, SVDQ_ERROR_INVALID_ARGUMENT,
            "device " + std::to_string(ordinal) + " does not exist: " + backend + " has " + std::to_string(count) +
                (count == 1 ? " device (0)" : " devices (0.." + std::to_string(count - 1) + ")"));
}

}  // namespace

int32_t device_count(svdq_backend backend) {
    require_concrete(backend);
    return backend == SVDQ_BACKEND_CPU ? 1 : cuda_device_count();
}

svdq_device_info device_info(svdq_backend backend, int32_t ordinal) {
    require_ordinal(ordinal, device_count(backend), backend == SVDQ_BACKEND_CPU ? "the CPU backend" : "CUDA");
    svdq_device_info info{};
    info.backend = backend;
    info.ordinal = ordinal;
    if (backend == SVDQ_BACKEND_CPU) {
        const std::string name = std::string("CPU (") + cpu_level_name(detected_cpu_level()) + " kernels)";
        std::strncpy(info.name, name.c_str(), sizeof info.name - 1);
        info.multiprocessors = static_cast<int32_t>(std::thread::hardware_concurrency());
        return info;
    }
    const svdq_backend_plugin& plugin = cuda_plugin();
    svdq_plugin_device device{};
    check_plugin(plugin, plugin.device_info(ordinal, &device), "device_info");
    std::memcpy(info.name, device.name, sizeof info.name);
    info.name[sizeof info.name - 1] = '\0';
    info.compute_capability = device.compute_capability;
    info.multiprocessors = device.multiprocessors;
    info.total_memory_bytes = device.total_memory_bytes;
    info.free_memory_bytes = device.free_memory_bytes;
    return info;
}

std::unique_ptr<Backend> make_backend(svdq_backend backend, int32_t ordinal, ThreadPool& pool, svdq_cpu_level level,
                                      const Logger& logger) {
    if (backend == SVDQ_BACKEND_AUTO) {
        try {
            require_ordinal(ordinal, cuda_device_count(), "CUDA");
            return make_plugin_backend(cuda_plugin(), SVDQ_BACKEND_CUDA, ordinal, pool);
        } catch (const Error& e) {
            if (e.status() != SVDQ_ERROR_UNSUPPORTED) throw;
            logger.info(std::string("backend AUTO runs on the CPU: ") + e.what());
        }
        return std::make_unique<CpuBackend>(pool, level);
    }
    if (backend == SVDQ_BACKEND_CPU) {
        require(ordinal == 0, SVDQ_ERROR_INVALID_ARGUMENT, "device " + std::to_string(ordinal) + " does not exist: the CPU backend has device 0 only");
        return std::make_unique<CpuBackend>(pool, level);
    }
    require_ordinal(ordinal, cuda_device_count(), "CUDA");
    return make_plugin_backend(cuda_plugin(), SVDQ_BACKEND_CUDA, ordinal, pool);
}

}  // namespace svdq
