// Failures inside the CUDA plugin: C++ exceptions carrying a svdq_status,
// caught at the plugin's C door (plugin_call) and kept as the thread's
// last_error() message. Nothing here crosses into libsvdquant.
#pragma once

#include <cuda_runtime.h>

#include <new>
#include <stdexcept>
#include <string>

#include "svdquant.h"

namespace svdq::cuda {

class PluginError : public std::runtime_error {
public:
    PluginError(svdq_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
    svdq_status status() const noexcept { return status_; }

private:
    svdq_status status_;
};

[[noreturn]] inline void fail(svdq_status status, const std::string& message) { throw PluginError(status, message); }

inline void require(bool condition, svdq_status status, const char* message) {
    if (!condition) fail(status, message);
}

// A CUDA runtime failure named with what was being done; out of memory keeps its own status.
inline void check(cudaError_t error, const char* what) {
    if (error == cudaSuccess) return;
    const svdq_status status = error == cudaErrorMemoryAllocation ? SVDQ_ERROR_OUT_OF_MEMORY : SVDQ_ERROR_INTERNAL;
    fail(status, std::string(what) + ": " + cudaGetErrorName(error) + " (" + cudaGetErrorString(error) + ")");
}

// After a kernel launch: a bad configuration surfaces here, an asynchronous fault at the next sync.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

void set_last_error(const char* message);  // the calling thread's, for last_error()

// Runs one entry point's body: its status, with the message kept for last_error().
template <class Body>
int32_t plugin_call(Body&& body) noexcept {
    try {
        body();
        set_last_error("");
        return SVDQ_OK;
    } catch (const PluginError& e) {
        set_last_error(e.what());
        return e.status();
    } catch (const std::bad_alloc&) {
        set_last_error("out of host memory");
        return SVDQ_ERROR_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        set_last_error(e.what());
        return SVDQ_ERROR_INTERNAL;
    } catch (...) {
        set_last_error("unknown failure in the CUDA plugin");
        return SVDQ_ERROR_INTERNAL;
    }
}

}  // namespace svdq::cuda
