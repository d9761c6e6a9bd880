// The CUDA backend's buffers, and copies between them and the host.
#include "backend/cuda/cuda_memory.cuh"

#include <string>

namespace svdq::cuda {

namespace {

void require_fits(const View& a, const View& b, const char* what) {
    if (a.rows != b.rows || a.cols != b.cols)
        fail(SVDQ_ERROR_SHAPE_MISMATCH, std::string(what) + ": [" + std::to_string(a.rows) + ", " + std::to_string(a.cols) +
                                            "] and [" + std::to_string(b.rows) + ", " + std::to_string(b.cols) + "] differ");
}

size_t pitch(const View& v) { return static_cast<size_t>(v.row_stride) * sizeof(float); }
size_t row_bytes(const View& v) { return static_cast<size_t>(v.cols) * sizeof(float); }

}  // namespace

void* allocate(CudaBackend& b, size_t bytes) {
    activate_device(b);
    void* data = nullptr;
    check(cudaMalloc(&data, bytes == 0 ? 1 : bytes), ("allocating " + std::to_string(bytes) + " bytes of GPU memory").c_str());
    return data;
}

void release(CudaBackend& b, void* data) noexcept {
    cudaSetDevice(b.device);
    cudaFree(data);  // waits for work queued on the buffer
}

void upload(CudaBackend& b, const float* host, const View& dst) {
    activate_device(b);
    if (dst.rows == 0 || dst.cols == 0) return;
    // Pageable host memory: returns once the values are staged, so the caller may reuse them.
    check(cudaMemcpy2DAsync(dst.data, pitch(dst), host, row_bytes(dst), row_bytes(dst), dst.rows, cudaMemcpyHostToDevice, b.stream),
          "upload");
}

void download(CudaBackend& b, const View& src, float* host) {
    activate_device(b);
    if (src.rows == 0 || src.cols == 0) return;
    check(cudaMemcpy2DAsync(host, row_bytes(src), src.data, pitch(src), row_bytes(src), src.rows, cudaMemcpyDeviceToHost, b.stream),
          "download");
    check(cudaStreamSynchronize(b.stream), "download (waiting for the GPU)");
}

void copy(CudaBackend& b, const View& src, const View& dst) {
    require_fits(src, dst, "copy");
    activate_device(b);
    if (src.rows == 0 || src.cols == 0) return;
    check(cudaMemcpy2DAsync(dst.data, pitch(dst), src.data, pitch(src), row_bytes(src), src.rows, cudaMemcpyDeviceToDevice, b.stream),
          "copy");
}

}  // namespace svdq::cuda
