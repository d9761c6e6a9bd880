// Thread counts never change a result: 1, 2, 3 threads and more threads than
// there are tiles (8, 16 on small shapes) build and run every layer kind,
// attention and a FLUX forward bit for bit alike, at every kernel level, and
// the quantizer picks the same exponents and builds the same layers.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "backend/context.h"
#include "formats/safetensors_file.h"
#include "models/flux/flux_checkpoint.h"
#include "models/flux/flux_input_set.h"
#include "models/flux/flux_transformer.h"
#include "formats/nunchaku_flux_layout.h"
#include "backend/backend.h"
#include "nn/linear.h"
#include "quant/lowrank.h"
#include "quant/quantizer.h"
#include "quant/smoothing.h"
#include "cpu_levels.h"
#include "test_util.h"

namespace svdq {

namespace {

const int kThreadCounts[] = {1, 2, 3, 8, 16};

svdq_context_options options(svdq_cpu_level level, int threads) {
    svdq_context_options o = test::level_options(level);
    o.num_threads = threads;
    return o;
}

// An SVDQuant layer of `kind` and `format` on [n, k] weights; everything
// optional is present where the kind takes it.
struct LayerCase {
    std::string name;
    LinearWeights weights;
};

std::vector<LayerCase> layer_cases(int64_t m, int64_t n, int64_t k, const std::vector<float>& x) {
    LinearWeights base;
    base.n = n;
    base.k = k;
    base.weight = test::gaussian(static_cast<size_t>(n * k), 2, 0.05f);
    base.bias = test::gaussian(static_cast<size_t>(n), 3);
    ThreadPool pool(1);
    const std::vector<float> smooth = compute_smoothing(x.data(), m, base.weight.data(), n, k, 0.5f, 0.5f, pool);
    std::vector<float> smoothed = base.weight;
    for (int64_t i = 0; i < n * k; ++i) smoothed[static_cast<size_t>(i)] *= smooth[static_cast<size_t>(i % k)];
    const LowRank lr = lowrank_decompose(smoothed.data(), n, k, 16, SvdMethod::Exact);

    std::vector<LayerCase> cases;
    const auto add = [&](const std::string& name, const std::function<void(LinearWeights&)>& edit) {
        LinearWeights w = base;
        edit(w);
        cases.push_back({name, std::move(w)});
    };
    const auto svdquant = [&](LinearWeights& w) {
        w.scheme = SVDQ_SCHEME_W4A4;
        w.format = SVDQ_FORMAT_INT4;
        w.smooth = smooth;
        w.rank = lr.rank;
        w.up = lr.up;
        w.down = lr.down;
    };
    add("float", [](LinearWeights& w) { w.activation = SVDQ_ACTIVATION_GELU_TANH; });
    add("float_bf16", [](LinearWeights& w) { w.weight = test::bf16_values(w.weight); });
    add("w4a16", [](LinearWeights& w) { w.scheme = SVDQ_SCHEME_W4A16; w.format = SVDQ_FORMAT_INT4; });
    add("w4a4_rtn", [](LinearWeights& w) { w.scheme = SVDQ_SCHEME_W4A4; w.format = SVDQ_FORMAT_INT4; });
    add("w4a4_svdquant_fused", [&](LinearWeights& w) {
        svdquant(w);
        w.activation = SVDQ_ACTIVATION_GELU_TANH;
    });
    add("w4a4_svdquant_unfused", [&](LinearWeights& w) {
        svdquant(w);
        w.branch_execution = SVDQ_BRANCH_UNFUSED;
        w.activation = SVDQ_ACTIVATION_GELU_TANH;
    });
    add("w4a4_svdquant_unsigned_shifted", [&](LinearWeights& w) {
        svdquant(w);
        w.input_shift = nunchaku::kGeluShift;
        w.unsigned_input = true;
    });
    add("nvfp4_svdquant", [&](LinearWeights& w) {
        svdquant(w);
        w.format = SVDQ_FORMAT_NVFP4;
    });
    return cases;
}

// The layer built and run in a context of `threads` threads.
std::vector<float> run_layer(svdq_cpu_level level, int threads, const LinearWeights& w, const std::vector<float>& x, int64_t m) {
    Context ctx(options(level, threads));
    const Linear layer(ctx, w);
    std::vector<float> y(static_cast<size_t>(m * w.n));
    layer.forward(ctx, x.data(), m, y.data());
    return y;
}

}  // namespace

class Determinism : public testing::TestWithParam<svdq_cpu_level> {};

// A small layer (a handful of tiles, so most of 8 or 16 threads get nothing)
// and a larger one with ragged edges.
TEST_P(Determinism, EveryLayerKindIsBitIdenticalAcrossThreadCounts) {
    SVDQ_REQUIRE_LEVEL(GetParam());
    const struct { int64_t m, n, k; } shapes[] = {{5, 24, 128}, {67, 200, 384}};
    for (const auto& s : shapes) {
        const std::vector<float> x = test::with_outlier_channels(test::gaussian(static_cast<size_t>(s.m * s.k), 1), s.k, 64, 20.0f);
        for (const LayerCase& c : layer_cases(s.m, s.n, s.k, x)) {
            SCOPED_TRACE(c.name + " [" + std::to_string(s.m) + ", " + std::to_string(s.n) + ", " + std::to_string(s.k) + "]");
            const std::vector<float> one = run_layer(GetParam(), 1, c.weights, x, s.m);
            for (int threads : kThreadCounts) EXPECT_EQ(run_layer(GetParam(), threads, c.weights, x, s.m), one) << threads << " threads";
        }
    }
}

TEST_P(Determinism, AttentionIsBitIdenticalAcrossThreadCounts) {
    SVDQ_REQUIRE_LEVEL(GetParam());
    // 3 heads of 64 and 300 tokens: two query blocks per head, the second ragged.
    const int64_t tokens = 300, heads = 3, dim = 64, count = tokens * heads * dim;
    const std::vector<float> q = test::gaussian(static_cast<size_t>(count), 11), k = test::gaussian(static_cast<size_t>(count), 12),
                             v = test::gaussian(static_cast<size_t>(count), 13);
    const auto run = [&](int threads, AttentionPrecision precision) {
        Context ctx(options(GetParam(), threads));
        std::vector<float> out(static_cast<size_t>(count));
        ctx.backend().attention(TensorView::host(q.data(), tokens, heads * dim), TensorView::host(k.data(), tokens, heads * dim),
                                TensorView::host(v.data(), tokens, heads * dim), dim, precision,
                                TensorView::host(out.data(), tokens, heads * dim));
        return out;
    };
    for (AttentionPrecision precision : {AttentionPrecision::fp32, AttentionPrecision::bf16}) {
        const std::vector<float> one = run(1, precision);
        for (int threads : kThreadCounts) EXPECT_EQ(run(threads, precision), one) << threads << " threads";
    }
}

TEST_P(Determinism, FluxForwardIsBitIdenticalAcrossThreadCounts) {
    SVDQ_REQUIRE_LEVEL(GetParam());
    const std::string model = std::string(SVDQ_TEST_DATA_DIR) + "/flux-tiny";
    const FluxCheckpoint checkpoint(model);
    const FluxInputSet inputs = read_flux_inputs(SafeTensorsFile(model + "/inputs.safetensors"), checkpoint.config());
    for (svdq_linear_scheme kind : {SVDQ_SCHEME_FLOAT, SVDQ_SCHEME_W4A4}) {
        SCOPED_TRACE(kind == SVDQ_SCHEME_FLOAT ? "float" : "W4A4");
        const auto run = [&](int threads) {
            Context ctx(options(GetParam(), threads));
            return FluxTransformer(ctx, checkpoint, kind).forward(ctx, inputs.view());
        };
        const std::vector<float> one = run(1);
        for (int threads : kThreadCounts) EXPECT_EQ(run(threads), one) << threads << " threads";
    }
}

INSTANTIATE_TEST_SUITE_P(AllLevels, Determinism, testing::ValuesIn(test::all_levels()),
                         [](const auto& info) { return std::string(cpu_level_name(info.param)); });

// The search scores candidates in parallel and the SVDs run on the pool: the
// same exponents, lambda, branch and layer output whatever the thread count.
TEST(QuantizerDeterminism, SameSearchResultAndLayersAcrossThreadCounts) {
    const int64_t m = 128, n = 160, k = 256;
    const std::vector<float> calib = test::with_outlier_channels(test::gaussian(static_cast<size_t>(m * k), 21), k, 64, 30.0f);
    std::vector<LayerToQuantize> layers{{n, test::gaussian(static_cast<size_t>(n * k), 22, 0.05f), test::gaussian(static_cast<size_t>(n), 23)},
                                        {96, test::gaussian(static_cast<size_t>(96 * k), 24, 0.05f), {}}};
    for (svdq_number_format format : {SVDQ_FORMAT_INT4, SVDQ_FORMAT_NVFP4}) {
        SCOPED_TRACE(format == SVDQ_FORMAT_INT4 ? "INT4" : "NVFP4");
        QuantizerOptions o;
        o.format = format;
        o.rank = 16;
        o.refine_iterations = 2;
        const auto run = [&](int threads) {
            svdq_context_options co = test::context_options();
            co.num_threads = threads;
            Context ctx(co);
            QuantizedLayers q = quantize_layers(layers, k, calib.data(), m, o, ctx);
            std::vector<std::vector<float>> outputs;
            for (const LinearWeights& w : q.layers) {
                std::vector<float> y(static_cast<size_t>(m * w.n));
                Linear(ctx, w).forward(ctx, calib.data(), m, y.data());
                outputs.push_back(std::move(y));
            }
            return std::make_pair(std::move(q), std::move(outputs));
        };
        const auto [one, one_out] = run(1);
        EXPECT_GT(one.alpha + one.beta, 0.0f) << "the search smooths";
        for (int threads : kThreadCounts) {
            SCOPED_TRACE(std::to_string(threads) + " threads");
            const auto [q, out] = run(threads);
            EXPECT_EQ(q.alpha, one.alpha);
            EXPECT_EQ(q.beta, one.beta);
            EXPECT_EQ(q.candidates, one.candidates);
            EXPECT_EQ(q.refine_rounds, one.refine_rounds);
            EXPECT_EQ(q.smooth, one.smooth);
            for (size_t i = 0; i < q.layers.size(); ++i) {
                EXPECT_EQ(q.layers[i].up, one.layers[i].up) << "layer " << i;
                EXPECT_EQ(q.layers[i].down, one.layers[i].down) << "layer " << i;
                EXPECT_EQ(out[i], one_out[i]) << "layer " << i;
            }
        }
    }
}

}  // namespace svdq
