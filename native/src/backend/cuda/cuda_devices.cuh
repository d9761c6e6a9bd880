// Device enumeration and backend instances (cuda_devices.cu).
#pragma once

#include "backend/cuda/cuda_backend.cuh"

namespace svdq::cuda {

// The GPUs the driver sees; throws UNSUPPORTED naming why none can run the
// backend (no driver, no GPU, every GPU older than sm_75). Creating a backend
// on an older one is refused the same way.
int usable_device_count();
svdq_plugin_device describe_device(int ordinal);

CudaBackend* create_backend(int ordinal);
void destroy_backend(CudaBackend* b) noexcept;

}  // namespace svdq::cuda
