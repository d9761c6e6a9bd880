#include "backend/cpu/cpu_ops.h"

#include <algorithm>
#include <numeric>

#include "backend/cpu/epilogue.h"
#include "backend/cpu/head_rows.h"
#include "core/thread_pool.h"

namespace svdq {

namespace {

// The head stage on tile t of y [m, n]: the heads of q and k it holds whole.
void run_head_stage(const HeadStage& h, const Tile& t, float* y, int64_t n) {
    for (int64_t c = t.n0; c < std::min(t.n1, 2 * h.width); c += h.head_dim) {
        const float* weight = c < h.width ? h.q_weight : h.k_weight;
        for (int64_t i = t.m0; i < t.m1; ++i) {
            float* v = y + i * n + c;
            rms_norm_head(v, weight, h.head_dim, h.eps);
            rope_head(v, h.cos + i * h.rope_stride, h.sin + i * h.rope_stride, h.head_dim);
        }
    }
}

// Tiles of whole weight panels: each thread owns distinct output columns, so
// no two threads write the same cache line except at panel edges. Tiles walk
// down the rows first so consecutive items reuse one weight panel in cache.
// With a head stage, tiles hold whole heads and the stage runs on each
// while it is still in cache.
template <class Run>
void for_each_tile(const CpuKernels& kernels, ThreadPool& pool, int64_t m, int64_t n, const Epilogue& e, float* y, const Run& run) {
    const int64_t tr = kernels.tile_rows;
    const int64_t tc = e.heads != nullptr ? std::lcm(kernels.tile_cols, e.heads->head_dim) : kernels.tile_cols;
    const int64_t row_tiles = (m + tr - 1) / tr;
    const int64_t col_tiles = (n + tc - 1) / tc;
    pool.parallel_for(row_tiles * col_tiles, [&](int64_t i) {
        const int64_t r = i % row_tiles, c = i / row_tiles;
        const Tile t{r * tr, std::min(m, (r + 1) * tr), c * tc, std::min(n, (c + 1) * tc)};
        run(t);
        if (e.heads != nullptr) run_head_stage(*e.heads, t, y, n);
    });
}

}  // namespace

void run_quantize_act(const CpuKernels& kernels, ThreadPool& pool, const QuantizeActArgs& args) {
    const int64_t blocks = std::min<int64_t>(args.m, pool.size() * 4);
    pool.reserve_scratch(kernels.quantize_act_scratch(args));
    pool.parallel_for(blocks, [&](int64_t b) {
        kernels.quantize_act(args, args.m * b / blocks, args.m * (b + 1) / blocks, pool.scratch());
    });
}

void run_gemm_w4a4(const CpuKernels& kernels, ThreadPool& pool, const GemmW4A4Args& args) {
    for_each_tile(kernels, pool, args.m, args.w->n, args.epilogue, args.y, [&](const Tile& t) { kernels.gemm_w4a4(args, t); });
}

void run_gemm_w4a16(const CpuKernels& kernels, ThreadPool& pool, const GemmFloatArgs& args) {
    pool.reserve_scratch(kernels.gemm_w4a16_scratch(args));
    for_each_tile(kernels, pool, args.m, args.w->n, args.epilogue, args.y, [&](const Tile& t) { kernels.gemm_w4a16(args, t, pool.scratch()); });
}

void run_gemm_f32(const CpuKernels& kernels, ThreadPool& pool, const GemmFloatArgs& args) {
    for_each_tile(kernels, pool, args.m, args.w->n, args.epilogue, args.y, [&](const Tile& t) { kernels.gemm_f32(args, t); });
}

void run_gemm_bf16(const CpuKernels& kernels, ThreadPool& pool, const GemmFloatArgs& args) {
    pool.reserve_scratch(kernels.gemm_bf16_scratch(args));
    for_each_tile(kernels, pool, args.m, args.w->n, args.epilogue, args.y, [&](const Tile& t) { kernels.gemm_bf16(args, t, pool.scratch()); });
}

void run_add_activation(ThreadPool& pool, float* y, const float* addend, int64_t count, int32_t activation) {
    const int64_t blocks = std::min<int64_t>(count, pool.size() * 4);
    pool.parallel_for(blocks, [&](int64_t b) {
        for (int64_t i = count * b / blocks; i < count * (b + 1) / blocks; ++i)
            y[i] = apply_activation(y[i] + addend[i], activation);
    });
}

}  // namespace svdq
