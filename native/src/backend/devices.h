// The devices each backend can run on here, and the backend a context gets:
// the CPU always; CUDA through its plugin library when that library, a driver
// and a supported GPU are there; AUTO the first of CUDA and the CPU that can.
#pragma once

#include <cstdint>
#include <memory>

#include "backend/backend.h"
#include "svdquant.h"

namespace svdq {

class Logger;
class ThreadPool;

// Throws Error(SVDQ_ERROR_UNSUPPORTED) with the reason when `backend` can run on nothing.
int32_t device_count(svdq_backend backend);
svdq_device_info device_info(svdq_backend backend, int32_t ordinal);

// The backend for context options (backend, device); AUTO logs why it took the CPU.
std::unique_ptr<Backend> make_backend(svdq_backend backend, int32_t ordinal, ThreadPool& pool, svdq_cpu_level level,
                                      const Logger& logger);

}  // namespace svdq
