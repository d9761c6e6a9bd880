// CUDA devices: which can run the backend and why not, and one backend
// instance per context (its stream, cuBLAS handle and scratch).
#include <cstring>
#include <string>

#include "backend/cuda/cuda_backend.cuh"
#include "backend/cuda/cuda_devices.cuh"

namespace svdq::cuda {

namespace {

// The oldest architecture the kernels are built for (INT4 mma.m8n8k32).
constexpr int kMinComputeCapability = 75;

int compute_capability(int device) {
    int major = 0, minor = 0;
    check(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device), "reading the compute capability");
    check(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device), "reading the compute capability");
    return major * 10 + minor;
}

// "GPU 0 (name, compute capability 6.1) ..." for a refusal.
std::string too_old(int device) {
    cudaDeviceProp props{};
    check(cudaGetDeviceProperties(&props, device), "reading device properties");
    return std::string("the oldest architecture this build runs on (sm_75, Turing): GPU ") + std::to_string(device) + " is " +
           props.name + ", compute capability " + std::to_string(props.major) + "." + std::to_string(props.minor);
}

}  // namespace

int usable_device_count() {
    int count = 0;
    const cudaError_t error = cudaGetDeviceCount(&count);
    if (error == cudaErrorInsufficientDriver)
        fail(SVDQ_ERROR_UNSUPPORTED,
             "no NVIDIA driver: the CUDA driver library (libcuda.so.1 / nvcuda.dll) is missing or older than this build's CUDA " +
                 std::to_string(CUDART_VERSION / 1000) + "." + std::to_string(CUDART_VERSION % 1000 / 10));
    if (error == cudaErrorNoDevice) fail(SVDQ_ERROR_UNSUPPORTED, "the NVIDIA driver sees no GPU");
    check(error, "counting GPUs");
    if (count == 0) fail(SVDQ_ERROR_UNSUPPORTED, "the NVIDIA driver sees no GPU");
    for (int device = 0; device < count; ++device)
        if (compute_capability(device) >= kMinComputeCapability) return count;
    fail(SVDQ_ERROR_UNSUPPORTED, "every GPU here is older than " + too_old(0));
}

svdq_plugin_device describe_device(int ordinal) {
    const int count = usable_device_count();
    if (ordinal < 0 || ordinal >= count)
        fail(SVDQ_ERROR_INVALID_ARGUMENT, "GPU " + std::to_string(ordinal) + " does not exist (" + std::to_string(count) + " found)");
    cudaDeviceProp props{};
    check(cudaGetDeviceProperties(&props, ordinal), "reading device properties");
    svdq_plugin_device out{};
    std::strncpy(out.name, props.name, sizeof out.name - 1);
    out.compute_capability = props.major * 10 + props.minor;
    out.multiprocessors = props.multiProcessorCount;
    out.total_memory_bytes = props.totalGlobalMem;
    check(cudaSetDevice(ordinal), "selecting the GPU");
    size_t free_bytes = 0, total_bytes = 0;
    check(cudaMemGetInfo(&free_bytes, &total_bytes), "reading free GPU memory");
    out.free_memory_bytes = free_bytes;
    return out;
}

void activate_device(const CudaBackend& b) { check(cudaSetDevice(b.device), "selecting the GPU"); }

CudaBackend* create_backend(int ordinal) {
    const svdq_plugin_device device = describe_device(ordinal);
    if (device.compute_capability < kMinComputeCapability) fail(SVDQ_ERROR_UNSUPPORTED, "this GPU is older than " + too_old(ordinal));
    auto* b = new CudaBackend();
    b->device = ordinal;
    b->compute_capability = device.compute_capability;
    try {
        check(cudaStreamCreateWithFlags(&b->stream, cudaStreamNonBlocking), "creating a stream");
        const cublasStatus_t status = cublasCreate(&b->cublas);
        if (status != CUBLAS_STATUS_SUCCESS) fail(SVDQ_ERROR_INTERNAL, "cuBLAS could not start (status " + std::to_string(status) + ")");
        cublasSetStream(b->cublas, b->stream);
    } catch (...) {
        destroy_backend(b);
        throw;
    }
    return b;
}

void destroy_backend(CudaBackend* b) noexcept {
    if (b == nullptr) return;
    cudaSetDevice(b->device);
    if (b->stream != nullptr) cudaStreamSynchronize(b->stream);
    if (b->cublas != nullptr) cublasDestroy(b->cublas);
    if (b->stream != nullptr) cudaStreamDestroy(b->stream);
    delete b;
}

void* DeviceScratch::get(size_t bytes) {
    if (bytes <= bytes_) return data_;
    // The old buffer may still be read by queued work on the stream that owns it: cudaFree waits for the device.
    check(cudaFree(data_), "freeing scratch");
    data_ = nullptr;
    bytes_ = 0;
    check(cudaMalloc(&data_, bytes), "allocating GPU scratch");
    bytes_ = bytes;
    return data_;
}

}  // namespace svdq::cuda
