// svdquant_attention_benchmark: FLUX.1's joint attention (24 heads of 128)
// at 512x512 (1024 image + 256 text tokens) and 1024x1024 (4096 + 512), at
// every kernel level this CPU runs, fp32 and, where the level has BF16 dot
// products, BF16 (svdq_attention_precision). The
// attention op has no C API of its own, so it is timed here, natively, not
// in BenchmarkDotNet; its share of a whole block shows in FluxBlockBenchmarks.
// Flops are 4 S^2 d per head (Q K^T and P V). Best of 3 by wall clock, and
// the rate per CPU-second the process got, which stays meaningful when
// other jobs share the cores. The scalar level runs 2 heads at 512x512 only
// (all 24 take seconds; the work per head is the same). The text encoders'
// biased attention runs at T5-XXL's shape. An argument, fp32, bf16 or
// biased, runs those cases only.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backend/context.h"
#include "core/cpu_features.h"
#include "backend/backend.h"

namespace {

std::vector<float> gaussian(size_t count, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> v(count);
    for (float& x : v) x = dist(rng);
    return v;
}

svdq::Context make_context(svdq_cpu_level level) {
    svdq_context_options o{};
    o.struct_size = sizeof o;
    o.cpu_level = level;
    o.log_level = SVDQ_LOG_ERROR;
    return svdq::Context(o);
}

struct Timing {
    double wall, cpu;  // best of 3, seconds
};

// Best of 3 runs of `once` after a warm-up (scratch and pages).
template <class Run>
Timing best_of_3(const Run& once) {
    once();
    Timing best{std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity()};
    for (int rep = 0; rep < 3; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        const std::clock_t c0 = std::clock();
        once();
        best.cpu = std::min(best.cpu, static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC);
        best.wall = std::min(best.wall, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
}

void run_level(svdq_cpu_level level, int64_t tokens, svdq::AttentionPrecision precision) {
    const int64_t head_dim = 128, heads = level == SVDQ_CPU_SCALAR ? 2 : 24;
    const size_t size = static_cast<size_t>(tokens * heads * head_dim);
    const std::vector<float> q = gaussian(size, 1), k = gaussian(size, 2), v = gaussian(size, 3);
    std::vector<float> out(size);
    svdq::Context ctx = make_context(level);
    const int64_t width = heads * head_dim;
    const auto [wall, cpu] = best_of_3([&] {
        ctx.backend().attention(svdq::TensorView::host(q.data(), tokens, width), svdq::TensorView::host(k.data(), tokens, width),
                                svdq::TensorView::host(v.data(), tokens, width), head_dim, precision,
                                svdq::TensorView::host(out.data(), tokens, width));
    });
    const double flops = 4.0 * static_cast<double>(tokens * tokens * head_dim * heads);
    std::printf("attention S=%lld d=%lld, %lld heads, %s, %s, %d threads: %.1f ms, %.1f GFLOP/s; %.1f GFLOP/s per CPU-second\n",
                static_cast<long long>(tokens), static_cast<long long>(head_dim), static_cast<long long>(heads),
                svdq::cpu_level_name(ctx.backend().cpu_level()), precision == svdq::AttentionPrecision::bf16 ? "bf16" : "fp32",
                ctx.pool().size(), wall * 1e3, flops / wall * 1e-9,
                flops / cpu * 1e-9);
}

// The text encoders' attention (Backend::biased_attention) at T5-XXL's
// self-attention shape: 512 tokens, 64 heads of 64, scale 1, a per-head
// bias (the relative position bias) and a padding mask on the last 40 keys;
// causal as CLIP's, or not as T5's.
void run_biased(bool causal) {
    const int64_t tokens = 512, head_dim = 64, heads = 64, width = heads * head_dim;
    const size_t size = static_cast<size_t>(tokens * width);
    const std::vector<float> q = gaussian(size, 1), k = gaussian(size, 2), v = gaussian(size, 3);
    const std::vector<float> bias = gaussian(static_cast<size_t>(heads * tokens * tokens), 4);
    std::vector<float> mask(static_cast<size_t>(tokens), 0.0f), out(size);
    std::fill(mask.end() - 40, mask.end(), std::numeric_limits<float>::lowest());
    svdq::Context ctx = make_context(SVDQ_CPU_AUTO);
    svdq::AttentionBias b;
    b.scale = 1.0f;
    b.bias = svdq::TensorView::host(bias.data(), heads * tokens, tokens);
    b.key_bias = svdq::TensorView::host(mask.data(), 1, tokens);
    b.causal = causal;
    const Timing t = best_of_3([&] {
        ctx.backend().biased_attention(svdq::TensorView::host(q.data(), tokens, width), svdq::TensorView::host(k.data(), tokens, width),
                                       svdq::TensorView::host(v.data(), tokens, width), head_dim, b,
                                       svdq::TensorView::host(out.data(), tokens, width));
    });
    const double flops = 4.0 * static_cast<double>(tokens * tokens * head_dim * heads) / (causal ? 2.0 : 1.0);
    std::printf("biased attention S=%lld d=%lld, %lld heads, %s, %d threads: %.1f ms, %.1f GFLOP/s\n", static_cast<long long>(tokens),
                static_cast<long long>(head_dim), static_cast<long long>(heads), causal ? "causal" : "not causal", ctx.pool().size(),
                t.wall * 1e3, flops / t.wall * 1e-9);
}

}  // namespace

int main(int argc, char** argv) {
    const std::string only = argc > 1 ? argv[1] : "";
    if (argc > 2 || (only != "" && only != "fp32" && only != "bf16" && only != "biased")) {
        std::fprintf(stderr, "usage: svdquant_attention_benchmark [fp32|bf16|biased]\n");
        return 2;
    }
    try {
        if (only == "biased" || only == "") {
            run_biased(false);
            run_biased(true);
            if (only == "biased") return 0;
        }
        for (int64_t tokens : {1280, 4608})
            for (svdq_cpu_level level : {SVDQ_CPU_SCALAR, SVDQ_CPU_AVX2, SVDQ_CPU_AVX512_VNNI, SVDQ_CPU_AVX512_BF16}) {
                if (level > svdq::resolve_cpu_level(SVDQ_CPU_AUTO) || (level == SVDQ_CPU_SCALAR && tokens > 1280)) continue;
                if (only != "bf16") run_level(level, tokens, svdq::AttentionPrecision::fp32);
                if (only != "fp32" && level == SVDQ_CPU_AVX512_BF16) run_level(level, tokens, svdq::AttentionPrecision::bf16);
            }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    return 0;
}
