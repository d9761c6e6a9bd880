// The CUDA backend's GEMMs on FLUX.1's shapes, timed with CUDA events: the
// fused W4A4 + rank-32 layer (activation quantizer and GEMM), W4A16, and
// cuBLAS BF16, with ratios against W4A16 and cuBLAS from the same run. A
// native program (no .NET on GPU hosts); prints a Markdown table for
// benchmarks/RESULTS.md. Usage: svdquant_cuda_benchmark [iterations]
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "backend/cuda/cuda_kernels.cuh"

using namespace svdq::cuda;

namespace {

void check(cudaError_t e, const char* what) {
    if (e == cudaSuccess) return;
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
}

// xorshift32: <random> does not compile under nvcc 11.8 with libstdc++ 12.
struct Rng {
    uint32_t state;
    uint32_t operator()() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        return state;
    }
    float uniform() { return static_cast<float>((*this)() >> 8) / 16777216.0f; }  // [0, 1)
};

template <class T>
T* device_random(size_t count, uint32_t seed, T (*make)(Rng&)) {
    Rng rng{seed * 2654435761u + 1u};
    std::vector<T> host(count);
    for (T& v : host) v = make(rng);
    T* d = nullptr;
    check(cudaMalloc(&d, count * sizeof(T)), "cudaMalloc");
    check(cudaMemcpy(d, host.data(), count * sizeof(T), cudaMemcpyHostToDevice), "upload");
    return d;
}

float normal(Rng& rng) { return rng.uniform() + rng.uniform() + rng.uniform() - 1.5f; }  // roughly bell-shaped; values do not matter
float positive(Rng& rng) { return 0.01f + 0.02f * rng.uniform(); }
uint8_t any_byte(Rng& rng) { return static_cast<uint8_t>(rng()); }
uint16_t bf16_small(Rng& rng) { return static_cast<uint16_t>(0x3C00 + rng() % 0x100); }  // ~0.0078..0.0156

// Mean milliseconds of `body` over `iterations` runs after two warm-ups.
template <class Body>
float time_ms(cudaStream_t stream, int iterations, Body body) {
    body();
    body();
    cudaEvent_t start, stop;
    cudaEventCreate(&start);
    cudaEventCreate(&stop);
    cudaEventRecord(start, stream);
    for (int i = 0; i < iterations; ++i) body();
    cudaEventRecord(stop, stream);
    check(cudaEventSynchronize(stop), "timing");
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, start, stop);
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    return ms / static_cast<float>(iterations);
}

}  // namespace

int main(int argc, char** argv) {
    const int iterations = argc > 1 ? std::atoi(argv[1]) : 20;
    cudaDeviceProp props{};
    check(cudaGetDeviceProperties(&props, 0), "no GPU");
    cudaStream_t stream;
    check(cudaStreamCreate(&stream), "stream");
    cublasHandle_t cublas;
    if (cublasCreate(&cublas) != CUBLAS_STATUS_SUCCESS) return 1;
    cublasSetStream(cublas, stream);
    std::printf("GPU: %s (sm_%d%d), %d iterations per shape\n\n", props.name, props.major, props.minor, iterations);
    std::printf("| M | N x K | W4A4 + rank 32 (ms) | W4A16 (ms) | cuBLAS BF16 (ms) | W4A4 vs W4A16 | W4A4 vs cuBLAS |\n");
    std::printf("|---:|---|---:|---:|---:|---:|---:|\n");
    const int64_t rank = 32;
    const int64_t ms[] = {256, 4096};
    const int64_t nk[][2] = {{3072, 3072}, {12288, 3072}, {3072, 12288}};
    for (const int64_t m : ms)
        for (const auto& shape : nk) {
            const int64_t n = shape[0], k = shape[1];
            float* x = device_random<float>(static_cast<size_t>(m * k), 1, normal);
            uint8_t* w = device_random<uint8_t>(static_cast<size_t>(n * k / 2), 2, any_byte);
            float* w_scales = device_random<float>(static_cast<size_t>(n * k / 64), 3, positive);
            uint16_t* down = device_random<uint16_t>(static_cast<size_t>(rank * k), 4, bf16_small);
            uint16_t* up = device_random<uint16_t>(static_cast<size_t>(n * rank), 5, bf16_small);
            uint16_t* x16 = device_random<uint16_t>(static_cast<size_t>(m * k), 6, bf16_small);
            uint16_t* w16 = device_random<uint16_t>(static_cast<size_t>(n * k), 7, bf16_small);
            float* bias = device_random<float>(static_cast<size_t>(n), 8, normal);
            uint8_t* codes = nullptr;
            float *act_scales = nullptr, *lowrank = nullptr, *y = nullptr;
            check(cudaMalloc(&codes, static_cast<size_t>(m * k / 2)), "cudaMalloc");
            check(cudaMalloc(&act_scales, static_cast<size_t>(m * k / 64) * sizeof(float)), "cudaMalloc");
            check(cudaMalloc(&lowrank, static_cast<size_t>(m * rank) * sizeof(float)), "cudaMalloc");
            check(cudaMalloc(&y, static_cast<size_t>(m * n) * sizeof(float)), "cudaMalloc");

            const float w4a4 = time_ms(stream, iterations, [&] {
                quantize_activations({x, m, k, nullptr, 0.0f, false, down, rank, codes, act_scales, lowrank}, stream);
                GemmW4A4Args g{};
                g.codes = codes;
                g.act_scales = act_scales;
                g.m = m;
                g.w = w;
                g.w_scales = w_scales;
                g.n = n;
                g.k = k;
                g.lowrank = lowrank;
                g.up = up;
                g.rank = rank;
                g.bias = bias;
                g.y = y;
                gemm_w4a4(g, stream);
            });
            const float w4a16 = time_ms(stream, iterations, [&] {
                gemm_w4a16({x, m, w, w_scales, nullptr, n, k, bias, false, y}, stream);
            });
            const float alpha = 1.0f, beta = 0.0f;
            const float bf16 = time_ms(stream, iterations, [&] {
                cublasGemmEx(cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, w16,
                             CUDA_R_16BF, static_cast<int>(k), x16, CUDA_R_16BF, static_cast<int>(k), &beta, y, CUDA_R_32F,
                             static_cast<int>(n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
            });
            check(cudaGetLastError(), "a kernel");
            std::printf("| %lld | %lld x %lld | %.3f | %.3f | %.3f | %.2fx | %.2fx |\n", static_cast<long long>(m),
                        static_cast<long long>(n), static_cast<long long>(k), w4a4, w4a16, bf16, w4a16 / w4a4, bf16 / w4a4);
            for (void* p : {static_cast<void*>(x), static_cast<void*>(w), static_cast<void*>(w_scales), static_cast<void*>(down),
                            static_cast<void*>(up), static_cast<void*>(x16), static_cast<void*>(w16), static_cast<void*>(bias),
                            static_cast<void*>(codes), static_cast<void*>(act_scales), static_cast<void*>(lowrank), static_cast<void*>(y)})
                cudaFree(p);
        }
    cublasDestroy(cublas);
    cudaStreamDestroy(stream);
    return 0;
}
