#include "backend/cpu/cpu_ops.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <numeric>

#include "backend/cpu/epilogue.h"
#include "backend/cpu/head_rows.h"
#include "core/thread_pool.h"

namespace svdq {

namespace {

// f(begin, end) over [0, count) cut into up to four blocks per thread.
template <class F>
void for_each_block(ThreadPool& pool, int64_t count, const F& f) {
    const int64_t blocks = std::min<int64_t>(count, pool.size() * 4);
    pool.parallel_for(blocks, [&](int64_t b) { f(count * b / blocks, count * (b + 1) / blocks); });
}

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

// Whether row[n0, n1) holds Inf or NaN (an all-ones exponent), OR-ed in
// unsigned lanes so the compiler vectorizes it (GCC 12 compiles an OR of
// bools to a scalar loop).
bool any_non_finite(const float* row, int64_t n0, int64_t n1) {
    uint32_t found = 0;
    for (int64_t j = n0; j < n1; ++j) {
        uint32_t bits;
        std::memcpy(&bits, row + j, sizeof bits);
        found |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
    }
    return found != 0;
}

// The index j of row[j0, j1)'s first non-finite value, or -1.
int64_t first_non_finite_in(const float* row, int64_t j0, int64_t j1) {
    if (any_non_finite(row, j0, j1))
        for (int64_t j = j0; j < j1; ++j)
            if (!std::isfinite(row[j])) return j;
    return -1;
}

// The flat index into y [m, n] of tile t's first non-finite value in
// row-major order, or -1.
int64_t first_non_finite(const float* y, const Tile& t, int64_t n) {
    for (int64_t i = t.m0; i < t.m1; ++i)
        if (const int64_t j = first_non_finite_in(y + i * n, t.n0, t.n1); j >= 0) return i * n + j;
    return -1;
}

void keep_smaller(std::atomic<int64_t>& kept, int64_t value) {
    int64_t seen = kept.load(std::memory_order_relaxed);
    while (value < seen && !kept.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
    }
}

// The quantize stage on tile t of y [m, n] (c: its column tile): the
// finiteness check, the level's quantize_act on the tile's column slice,
// its down-projection share into slot c. A tile with Inf or NaN is not
// quantized (converting NaN to an integer is undefined): the run fails.
void run_quantize_stage(const CpuKernels& kernels, const QuantizeStage& q, const Tile& t, int64_t c, const float* y, int64_t m,
                        int64_t n, float* scratch) {
    if (const int64_t at = first_non_finite(y, t, n); at >= 0) {
        keep_smaller(*q.first_non_finite, at);
        return;
    }
    QuantizeActArgs a{y + t.n0, m, t.n1 - t.n0, q.inv_smooth ? q.inv_smooth + t.n0 : nullptr,
                      q.rank ? lowrank_down_from(kernels, q.lowrank_down, q.rank, t.n0) : nullptr, q.rank,
                      {q.out.q + t.n0, q.out.scales + t.n0 / kInt4Group, q.out.sums + t.n0 / kInt4Group},
                      q.partials + c * m * q.rank, q.encoding};
    a.x_stride = n;
    a.down_stride = a.out_width = n;
    kernels.quantize_act(a, t.m0, t.m1, scratch);
}

// Column tiles of whole 64-groups, for the quantize stage.
int64_t group_tile_cols(const CpuKernels& kernels) { return std::lcm(kernels.tile_cols, kInt4Group); }

int64_t tile_cols(const CpuKernels& kernels, const Epilogue& e) {
    if (e.heads != nullptr) return std::lcm(kernels.tile_cols, e.heads->head_dim);
    return e.quantize != nullptr ? group_tile_cols(kernels) : kernels.tile_cols;
}

// Tiles of whole weight panels: each thread owns distinct output columns, so
// no two threads write the same cache line except at panel edges. Tiles walk
// down the rows first so consecutive items reuse one weight panel in cache.
// With a head (quantize) stage, tiles hold whole heads (64-groups) and the
// stage runs on each while it is still in cache.
template <class Run>
void for_each_tile(const CpuKernels& kernels, ThreadPool& pool, int64_t m, int64_t n, const Epilogue& e, float* y, const Run& run) {
    const int64_t tr = kernels.tile_rows;
    const int64_t tc = tile_cols(kernels, e);
    const int64_t row_tiles = (m + tr - 1) / tr;
    const int64_t col_tiles = (n + tc - 1) / tc;
    pool.parallel_for(row_tiles * col_tiles, [&](int64_t i) {
        const int64_t r = i % row_tiles, c = i / row_tiles;
        const Tile t{r * tr, std::min(m, (r + 1) * tr), c * tc, std::min(n, (c + 1) * tc)};
        run(t);
        if (e.heads != nullptr) run_head_stage(*e.heads, t, y, n);
        if (e.quantize != nullptr) run_quantize_stage(kernels, *e.quantize, t, c, y, m, n, pool.scratch());
    });
}

// lowrank_act = the quantize stage's slots summed in column order.
void reduce_partials(ThreadPool& pool, const QuantizeStage& q, int64_t m, int64_t slots) {
    const int64_t count = m * q.rank;
    for_each_block(pool, count, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            float acc = q.partials[i];
            for (int64_t c = 1; c < slots; ++c) acc += q.partials[c * count + i];
            q.lowrank_act[i] = acc;
        }
    });
}

}  // namespace

void run_quantize_act(const CpuKernels& kernels, ThreadPool& pool, const QuantizeActArgs& args) {
    pool.reserve_scratch(kernels.quantize_act_scratch(args));
    for_each_block(pool, args.m, [&](int64_t begin, int64_t end) { kernels.quantize_act(args, begin, end, pool.scratch()); });
}

int64_t quantize_stage_slots(const CpuKernels& kernels, int64_t n) {
    const int64_t tc = group_tile_cols(kernels);
    return (n + tc - 1) / tc;
}

void run_gemm_w4a4(const CpuKernels& kernels, ThreadPool& pool, const GemmW4A4Args& args) {
    const QuantizeStage* q = args.epilogue.quantize;
    if (q != nullptr) {
        QuantizeActArgs slice{};
        slice.rank = q->rank;
        pool.reserve_scratch(kernels.quantize_act_scratch(slice));
    }
    for_each_tile(kernels, pool, args.m, args.w->n, args.epilogue, args.y, [&](const Tile& t) { kernels.gemm_w4a4(args, t); });
    if (q != nullptr && q->rank > 0) reduce_partials(pool, *q, args.m, quantize_stage_slots(kernels, args.w->n));
}

void run_gemm_w4a16(const CpuKernels& kernels, ThreadPool& pool, GemmFloatArgs args, std::vector<float>& prepared) {
    if (kernels.prepare_w4a16 != nullptr) {
        prepared.resize((kernels.prepare_w4a16_bytes(args) + sizeof(float) - 1) / sizeof(float));
        for_each_block(pool, args.m, [&](int64_t begin, int64_t end) { kernels.prepare_w4a16(args, begin, end, prepared.data()); });
        args.prepared = prepared.data();
    }
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

int64_t find_non_finite(ThreadPool& pool, const float* x, int64_t count) {
    std::atomic<int64_t> first{count};
    for_each_block(pool, count, [&](int64_t begin, int64_t end) {
        if (const int64_t at = first_non_finite_in(x, begin, end); at >= 0) keep_smaller(first, at);
    });
    return first.load() < count ? first.load() : -1;
}

void run_add_activation(ThreadPool& pool, float* y, const float* addend, int64_t count, int32_t activation) {
    for_each_block(pool, count, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) y[i] = apply_activation(y[i] + addend[i], activation);
    });
}

}  // namespace svdq
