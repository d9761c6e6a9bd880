// The W4A4 GEMM: 128x128 output tiles per block of 8 warps (4 along M, 2
// along N, 32x64 each), K walked one INT4 group (64) at a time through
// shared memory. Each group's exact integer dot products come from tensor
// cores and are scaled into fp32 accumulators in group order, as the CPU's
// kernels do; the epilogue adds the low-rank branch, bias and GELU.
#include "backend/cuda/cuda_error.cuh"
#include "backend/cuda/cuda_kernels.cuh"
#include "backend/cuda/mma_fragments.h"

namespace svdq::cuda {

namespace {

constexpr int kBlockM = 128, kBlockN = 128;
constexpr int kWarpsM = 4, kWarpsN = 2;
constexpr int kWarpM = kBlockM / kWarpsM, kWarpN = kBlockN / kWarpsN;  // 32 x 64
constexpr int kTilesM = kWarpM / 16, kTilesN = kWarpN / 8;             // m16n8 tiles per warp
constexpr int kBlockThreads = 32 * kWarpsM * kWarpsN;
// A shared row: one group's 32 bytes, padded to 48 so the eight rows a fragment load touches hit distinct banks.
constexpr int kRowBytes = 48;

// One integer MMA per architecture: only the one a device pass uses is compiled into it.
#if __CUDA_ARCH__ >= 900
__device__ __forceinline__ void mma_m16n8k32_s8(const mma::Fragments_m16n8k32& f, bool a_unsigned, int32_t c[4]) {
    if (a_unsigned)
        asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.u8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                     : "r"(f.a[0]), "r"(f.a[1]), "r"(f.a[2]), "r"(f.a[3]), "r"(f.b[0]), "r"(f.b[1]));
    else
        asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                     : "r"(f.a[0]), "r"(f.a[1]), "r"(f.a[2]), "r"(f.a[3]), "r"(f.b[0]), "r"(f.b[1]));
}
#elif __CUDA_ARCH__ >= 800
__device__ __forceinline__ void mma_m16n8k64_s4(const mma::Fragments_m16n8k64& f, bool a_unsigned, int32_t c[4]) {
    if (a_unsigned)
        asm volatile("mma.sync.aligned.m16n8k64.row.col.s32.u4.s4.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                     : "r"(f.a[0]), "r"(f.a[1]), "r"(f.a[2]), "r"(f.a[3]), "r"(f.b[0]), "r"(f.b[1]));
    else
        asm volatile("mma.sync.aligned.m16n8k64.row.col.s32.s4.s4.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                     : "r"(f.a[0]), "r"(f.a[1]), "r"(f.a[2]), "r"(f.a[3]), "r"(f.b[0]), "r"(f.b[1]));
}
#else
__device__ __forceinline__ void mma_m8n8k32_s4(const mma::Fragments_m8n8k32& f, bool a_unsigned, int32_t c[2]) {
    if (a_unsigned)
        asm volatile("mma.sync.aligned.m8n8k32.row.col.s32.u4.s4.s32 {%0,%1}, {%2}, {%3}, {%0,%1};\n"
                     : "+r"(c[0]), "+r"(c[1])
                     : "r"(f.a), "r"(f.b));
    else
        asm volatile("mma.sync.aligned.m8n8k32.row.col.s32.s4.s4.s32 {%0,%1}, {%2}, {%3}, {%0,%1};\n"
                     : "+r"(c[0]), "+r"(c[1])
                     : "r"(f.a), "r"(f.b));
}
#endif

// The exact 16x8 integer product of a [16][64] activation tile and an [8][64] weight tile in shared memory,
// on whichever integer MMA this architecture has.
__device__ __forceinline__ void product_16x8x64(const uint8_t* a, const uint8_t* b, bool a_unsigned, int lane, int32_t c[4]) {
    c[0] = c[1] = c[2] = c[3] = 0;
#if __CUDA_ARCH__ >= 900
    // Hopper has no 4-bit MMA: the nibbles widened to bytes, two k32 steps.
    #pragma unroll
    for (int step = 0; step < 2; ++step)
        mma_m16n8k32_s8(mma::load_m16n8k32_widened(a, kRowBytes, !a_unsigned, b, kRowBytes, lane, step), a_unsigned, c);
#elif __CUDA_ARCH__ >= 800
    mma_m16n8k64_s4(mma::load_m16n8k64(a, kRowBytes, b, kRowBytes, lane), a_unsigned, c);
#else
    #pragma unroll
    for (int half = 0; half < 2; ++half)
        #pragma unroll
        for (int step = 0; step < 2; ++step) {
            int32_t c8[2] = {0, 0};
            mma_m8n8k32_s4(mma::load_m8n8k32(a, kRowBytes, b, kRowBytes, lane, half, step), a_unsigned, c8);
            mma::add_m8n8(c, c8, half);
        }
#endif
}

// Row `row` of a [rows, k / 2] INT4 matrix, group g's 32 bytes, as two 16-byte halves (zeros past the end).
__device__ __forceinline__ void stage_group(const uint8_t* src, int64_t rows, int64_t row, int64_t row_bytes, int64_t g, int half,
                                            uint8_t* dst) {
    uint4 v = make_uint4(0, 0, 0, 0);
    if (row < rows) v = *reinterpret_cast<const uint4*>(src + row * row_bytes + g * 32 + half * 16);
    *reinterpret_cast<uint4*>(dst + half * 16) = v;
}

// The next layer's quantization of this warp's outputs: its 64 columns are one group of the next
// layer's input, each row's 64 values spread over the 4 lanes of a lane group (8 tiles x 2 each).
// The same arithmetic as quantize_act_kernel, so the codes are those a separate pass would make.
__device__ __forceinline__ void quantize_for_next(const GemmW4A4Args& a, const float (&y)[kTilesM][kTilesN][4], int64_t row0, int64_t col0, int lane) {
    const float levels = a.next_unsigned ? 15.0f : 7.0f, lowest = a.next_unsigned ? 0.0f : -8.0f;
    const int64_t groups = a.n / 64;
    #pragma unroll
    for (int tm = 0; tm < kTilesM; ++tm)
        #pragma unroll
        for (int half = 0; half < 2; ++half) {
            float xs[kTilesN][2];
            float absmax = 0.0f;
            #pragma unroll
            for (int tn = 0; tn < kTilesN; ++tn)
                #pragma unroll
                for (int j = 0; j < 2; ++j) {
                    const mma::Element e = mma::c_m16n8(lane, 2 * half + j);
                    const int64_t n = col0 + tn * 8 + e.col;
                    float v = y[tm][tn][2 * half + j] + a.next_shift;
                    if (a.next_inv_smooth != nullptr && n < a.n) v *= a.next_inv_smooth[n];
                    xs[tn][j] = v;
                    absmax = fmaxf(absmax, fabsf(v));
                }
            // The row's other 48 values sit in the three other lanes of this lane's group.
            absmax = fmaxf(absmax, __shfl_xor_sync(0xffffffffu, absmax, 1));
            absmax = fmaxf(absmax, __shfl_xor_sync(0xffffffffu, absmax, 2));
            const int64_t m = row0 + tm * 16 + mma::c_m16n8(lane, 2 * half).row;
            if (m >= a.m || col0 >= a.n) continue;
            const float inv = absmax > 0.0f ? levels / absmax : 0.0f;
            #pragma unroll
            for (int tn = 0; tn < kTilesN; ++tn) {
                const int q0 = static_cast<int>(fminf(fmaxf(rintf(xs[tn][0] * inv), lowest), levels));
                const int q1 = static_cast<int>(fminf(fmaxf(rintf(xs[tn][1] * inv), lowest), levels));
                const int64_t n = col0 + tn * 8 + mma::c_m16n8(lane, 2 * half).col;  // even: the pair's first column
                a.next_codes[m * (a.n / 2) + n / 2] = static_cast<uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
            }
            if (mma::thread_in_group(lane) == 0) a.next_scales[m * groups + col0 / 64] = absmax / levels;
        }
}

__global__ void __launch_bounds__(kBlockThreads) gemm_w4a4_kernel(GemmW4A4Args a) {
    __shared__ __align__(16) uint8_t tile_a[kBlockM * kRowBytes];
    __shared__ __align__(16) uint8_t tile_b[kBlockN * kRowBytes];
    __shared__ float scale_a[kBlockM], scale_b[kBlockN];

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int warp_m = warp % kWarpsM, warp_n = warp / kWarpsM;
    const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kBlockM, n0 = static_cast<int64_t>(blockIdx.x) * kBlockN;
    const int64_t groups = a.k / 64, row_bytes = a.k / 2;

    float acc[kTilesM][kTilesN][4] = {};
    for (int64_t g = 0; g < groups; ++g) {
        // 256 threads: each stages half a group row of A and of B (128 rows x 2 halves each).
        const int row = tid >> 1, half = tid & 1;
        stage_group(a.codes, a.m, m0 + row, row_bytes, g, half, tile_a + row * kRowBytes);
        stage_group(a.w, a.n, n0 + row, row_bytes, g, half, tile_b + row * kRowBytes);
        if (tid < kBlockM)
            scale_a[tid] = m0 + tid < a.m ? a.act_scales[(m0 + tid) * groups + g] : 0.0f;
        else
            scale_b[tid - kBlockM] = n0 + tid - kBlockM < a.n ? a.w_scales[(n0 + tid - kBlockM) * groups + g] : 0.0f;
        __syncthreads();
        #pragma unroll
        for (int tm = 0; tm < kTilesM; ++tm)
            #pragma unroll
            for (int tn = 0; tn < kTilesN; ++tn) {
                const int row0 = warp_m * kWarpM + tm * 16, col0 = warp_n * kWarpN + tn * 8;
                int32_t c[4];
                product_16x8x64(tile_a + row0 * kRowBytes, tile_b + col0 * kRowBytes, a.act_unsigned, lane, c);
                #pragma unroll
                for (int i = 0; i < 4; ++i) {
                    const mma::Element e = mma::c_m16n8(lane, i);
                    acc[tm][tn][i] += static_cast<float>(c[i]) * (scale_a[row0 + e.row] * scale_b[col0 + e.col]);
                }
            }
        __syncthreads();
    }

    #pragma unroll

    for (int tm = 0; tm < kTilesM; ++tm)
        #pragma unroll
        for (int tn = 0; tn < kTilesN; ++tn)
            #pragma unroll
            for (int i = 0; i < 4; ++i) {
                const mma::Element e = mma::c_m16n8(lane, i);
                const int64_t m = m0 + warp_m * kWarpM + tm * 16 + e.row, n = n0 + warp_n * kWarpN + tn * 8 + e.col;
                float v = 0.0f;  // outside the output: a zero that cannot raise the next layer's absmax
                if (m < a.m && n < a.n) {
                    v = acc[tm][tn][i];
                    for (int64_t r = 0; r < a.rank; ++r) v += a.lowrank[m * a.rank + r] * bf16_bits_to_float(a.up[n * a.rank + r]);
                    if (a.bias != nullptr) v += a.bias[n];
                    if (a.gelu) v = gelu_tanh(v);
                    a.y[m * a.n + n] = v;
                }
                acc[tm][tn][i] = v;
            }
    if (a.next_codes != nullptr) quantize_for_next(a, acc, m0 + warp_m * kWarpM, n0 + warp_n * kWarpN, lane);
}

}  // namespace

void gemm_w4a4(const GemmW4A4Args& a, cudaStream_t stream) {
    if (a.m == 0 || a.n == 0) return;
    const dim3 grid(static_cast<unsigned>((a.n + kBlockN - 1) / kBlockN), static_cast<unsigned>((a.m + kBlockM - 1) / kBlockM));
    gemm_w4a4_kernel<<<grid, kBlockThreads, 0, stream>>>(a);
    check_launch("gemm_w4a4_kernel");
}

}  // namespace svdq::cuda
