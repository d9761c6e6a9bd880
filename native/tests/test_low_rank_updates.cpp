// Linear::set_low_rank_updates (LoRA on one layer) in every scheme, format
// and branch execution, at every kernel level, against float64 math:
//   y = act(layer_pre(x) + sum_i scale_i (x down_i^T) up_i^T)
// where layer_pre is the layer without updates and without its activation
// (computed by the engine: the updates must not change it), and the LoRA term
// is computed here in float64. A fused INT4 W4A4 branch stores the appended
// down and scale * up as BF16, like its own branch, so its term is taken with
// those values rounded to BF16; every other layer runs an fp32 branch.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "backend/context.h"
#include "core/error.h"
#include "cpu_levels.h"
#include "nn/linear.h"
#include "test_util.h"

namespace svdq {

namespace {

constexpr int64_t M = 37, N = 160, K = 256, kBranchRank = 32;

struct Variant {
    const char* name;
    svdq_linear_scheme scheme;
    svdq_number_format format;
    int64_t rank;  // the layer's own branch (W4A4 only)
    svdq_branch_execution execution;
    svdq_activation activation;
};

const Variant kVariants[] = {
    {"float", SVDQ_SCHEME_FLOAT, SVDQ_FORMAT_FLOAT, 0, SVDQ_BRANCH_FUSED, SVDQ_ACTIVATION_NONE},
    {"float_gelu", SVDQ_SCHEME_FLOAT, SVDQ_FORMAT_FLOAT, 0, SVDQ_BRANCH_FUSED, SVDQ_ACTIVATION_GELU_TANH},
    {"w4a16", SVDQ_SCHEME_W4A16, SVDQ_FORMAT_INT4, 0, SVDQ_BRANCH_FUSED, SVDQ_ACTIVATION_NONE},
    {"w4a16_gelu", SVDQ_SCHEME_W4A16, SVDQ_FORMAT_INT4, 0, SVDQ_BRANCH_FUSED, SVDQ_ACTIVATION_GELU_TANH},
    {"w4a4_fused", SVDQ_SCHEME_W4A4, SVDQ_FORMAT_INT4, kBranchRank, SVDQ_BRANCH_FUSED, SVDQ_ACTIVATION_NONE},
    {"w4a4_fused_gelu", SVDQ_SCHEME_W4A4, SVDQ_FORMAT_INT4, kBranchRank, SVDQ_BRANCH_FUSED, SVDQ_ACTIVATION_GELU_TANH},
    {"w4a4_no_branch", SVDQ_SCHEME_W4A4, SVDQ_FORMAT_INT4, 0, SVDQ_BRANCH_FUSED, SVDQ_ACTIVATION_NONE},
    {"w4a4_unfused", SVDQ_SCHEME_W4A4, SVDQ_FORMAT_INT4, kBranchRank, SVDQ_BRANCH_UNFUSED, SVDQ_ACTIVATION_NONE},
    {"w4a4_unfused_gelu", SVDQ_SCHEME_W4A4, SVDQ_FORMAT_INT4, kBranchRank, SVDQ_BRANCH_UNFUSED, SVDQ_ACTIVATION_GELU_TANH},
    {"nvfp4", SVDQ_SCHEME_W4A4, SVDQ_FORMAT_NVFP4, kBranchRank, SVDQ_BRANCH_UNFUSED, SVDQ_ACTIVATION_NONE},
    {"nvfp4_gelu", SVDQ_SCHEME_W4A4, SVDQ_FORMAT_NVFP4, kBranchRank, SVDQ_BRANCH_UNFUSED, SVDQ_ACTIVATION_GELU_TANH},
};

bool fused(const Variant& v) {
    return v.scheme == SVDQ_SCHEME_W4A4 && v.format == SVDQ_FORMAT_INT4 && v.execution == SVDQ_BRANCH_FUSED;
}

// The variant's layer: weights std 0.05 (X W^T std 0.8), a bias of std 1, and
// for W4A4 smoothing and a branch of its own.
LinearWeights layer_weights(const Variant& v, svdq_activation activation) {
    LinearWeights w;
    w.scheme = v.scheme;
    w.format = v.format;
    w.activation = activation;
    w.branch_execution = v.execution;
    w.n = N;
    w.k = K;
    w.weight = test::gaussian(static_cast<size_t>(N * K), 101, 0.05f);
    w.bias = test::gaussian(static_cast<size_t>(N), 102, 1.0f);
    if (v.scheme == SVDQ_SCHEME_W4A4) {
        w.smooth = test::gaussian(static_cast<size_t>(K), 103, 0.3f);
        for (float& s : w.smooth) s = 1.0f + std::fabs(s);
    }
    if (v.rank > 0) {
        w.rank = v.rank;
        w.up = test::gaussian(static_cast<size_t>(N * v.rank), 104, 0.05f);
        w.down = test::gaussian(static_cast<size_t>(v.rank * K), 105, 0.05f);
    }
    return w;
}

LowRankUpdate random_update(int64_t rank, float scale, uint64_t seed) {
    LowRankUpdate u;
    u.rank = rank;
    u.down = test::gaussian(static_cast<size_t>(rank * K), seed, 0.1f);
    u.up = test::gaussian(static_cast<size_t>(N * rank), seed + 1, 0.2f);
    u.scale = scale;
    return u;
}

// Two updates of ranks that are no multiple of anything, one negative scale:
// together about as large as the layer's own output (std ~1.5 against ~1.3).
std::vector<LowRankUpdate> two_updates() { return {random_update(5, 0.7f, 201), random_update(11, -1.3f, 203)}; }

std::vector<float> input() { return test::gaussian(static_cast<size_t>(M * K), 301, 1.0f); }

std::vector<float> forward(Context& ctx, const Linear& layer, const std::vector<float>& x) {
    std::vector<float> y(static_cast<size_t>(M * N));
    layer.forward(ctx, x.data(), M, y.data());
    return y;
}

// sum_i scale_i (x down_i^T) up_i^T in float64; with `bf16`, down and
// scale * up (an fp32 product) rounded to BF16 as a fused branch keeps them.
std::vector<double> lora_term(const std::vector<float>& x, const std::vector<LowRankUpdate>& updates, bool bf16) {
    std::vector<double> out(static_cast<size_t>(M * N), 0.0);
    for (const LowRankUpdate& u : updates) {
        std::vector<float> down = u.down, up(u.up.size());
        for (size_t i = 0; i < up.size(); ++i) up[i] = u.scale * u.up[i];
        if (bf16) {
            down = test::bf16_values(down);
            up = test::bf16_values(up);
        }
        for (int64_t i = 0; i < M; ++i) {
            std::vector<double> t(static_cast<size_t>(u.rank), 0.0);
            for (int64_t q = 0; q < u.rank; ++q)
                for (int64_t j = 0; j < K; ++j) t[q] += double(x[i * K + j]) * down[static_cast<size_t>(q * K + j)];
            for (int64_t o = 0; o < N; ++o)
                for (int64_t q = 0; q < u.rank; ++q) out[i * N + o] += t[q] * up[static_cast<size_t>(o * u.rank + q)];
        }
    }
    return out;
}

// act(pre + term) in float64.
std::vector<double> expected(const std::vector<float>& pre, const std::vector<double>& term, svdq_activation activation) {
    std::vector<double> y(pre.size());
    for (size_t i = 0; i < y.size(); ++i) {
        const double v = pre[i] + term[i];
        y[i] = activation == SVDQ_ACTIVATION_GELU_TANH ? test::gelu_tanh_ref(v) : v;
    }
    return y;
}

bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class LowRankUpdateTest : public testing::TestWithParam<std::tuple<svdq_cpu_level, int>> {
protected:
    svdq_cpu_level level() const { return std::get<0>(GetParam()); }
    const Variant& variant() const { return kVariants[std::get<1>(GetParam())]; }
};

// The layer plus two updates against the layer's pre-activation output (the
// same layer built without activation) plus the float64 LoRA term, then the
// activation: the updates join before it. Measured (max |diff| / max |y|):
// 9.4e-8 to 3.0e-7 over every level and variant; bound 1e-6, far below what
// a dropped update (~0.5), a BF16 factor left unrounded in the reference or
// rounded twice (~1e-3) or the activation applied before the sum (~0.1) cost.
TEST_P(LowRankUpdateTest, AddsTheUpdatesBeforeTheActivation) {
    SVDQ_REQUIRE_LEVEL(level());
    Context ctx(test::level_options(level()));
    const Variant& v = variant();
    const std::vector<float> x = input();
    const Linear pre_layer(ctx, layer_weights(v, SVDQ_ACTIVATION_NONE));
    const std::vector<float> pre = forward(ctx, pre_layer, x);
    Linear layer(ctx, layer_weights(v, v.activation));
    const std::vector<LowRankUpdate> updates = two_updates();
    layer.set_low_rank_updates(ctx, updates);
    EXPECT_EQ(layer.low_rank_update_rank(), 16);
    const double error = test::max_rel_error(forward(ctx, layer, x), expected(pre, lora_term(x, updates, fused(v)), v.activation));
    std::printf("%s %s: %.2e\n", cpu_level_name(level()), v.name, error);
    EXPECT_LT(error, 1e-6) << v.name;
    // The term matters: without it the output is far off.
    EXPECT_GT(test::max_rel_error(forward(ctx, pre_layer, x), expected(pre, lora_term(x, updates, fused(v)), SVDQ_ACTIVATION_NONE)),
              0.2);
}

// An empty set and a set whose scales are all 0 give the layer's own outputs
// bit for bit, and its memory back; so does removing updates after they ran.
TEST_P(LowRankUpdateTest, EmptyOrZeroScaleSetRestoresTheLayerBitForBit) {
    SVDQ_REQUIRE_LEVEL(level());
    Context ctx(test::level_options(level()));
    const Variant& v = variant();
    const std::vector<float> x = input();
    Linear layer(ctx, layer_weights(v, v.activation));
    const std::vector<float> own = forward(ctx, layer, x);
    const uint64_t bytes = layer.weight_bytes();
    layer.set_low_rank_updates(ctx, two_updates());
    EXPECT_FALSE(bit_identical(forward(ctx, layer, x), own));
    EXPECT_GT(layer.weight_bytes(), bytes);
    layer.set_low_rank_updates(ctx, {});
    EXPECT_TRUE(bit_identical(forward(ctx, layer, x), own)) << v.name;
    EXPECT_EQ(layer.weight_bytes(), bytes);
    std::vector<LowRankUpdate> zero = two_updates();
    for (LowRankUpdate& u : zero) u.scale = 0.0f;
    layer.set_low_rank_updates(ctx, zero);
    EXPECT_EQ(layer.low_rank_update_rank(), 0);
    EXPECT_TRUE(bit_identical(forward(ctx, layer, x), own)) << v.name;
    // A zero-scale update beside a live one changes nothing either.
    std::vector<LowRankUpdate> one = two_updates(), one_and_zero = two_updates();
    one.pop_back();
    one_and_zero[1].scale = 0.0f;
    layer.set_low_rank_updates(ctx, one);
    const std::vector<float> y_one = forward(ctx, layer, x);
    layer.set_low_rank_updates(ctx, one_and_zero);
    EXPECT_TRUE(bit_identical(forward(ctx, layer, x), y_one)) << v.name;
}

// Two updates are their sum: the same as one update holding both (down
// stacked, up = [scale_1 up_1, scale_2 up_2], scale 1), bit for bit.
TEST_P(LowRankUpdateTest, TwoUpdatesEqualOneHoldingBoth) {
    SVDQ_REQUIRE_LEVEL(level());
    Context ctx(test::level_options(level()));
    const Variant& v = variant();
    const std::vector<float> x = input();
    Linear layer(ctx, layer_weights(v, v.activation));
    const std::vector<LowRankUpdate> updates = two_updates();
    layer.set_low_rank_updates(ctx, updates);
    const std::vector<float> y_two = forward(ctx, layer, x);
    LowRankUpdate both;
    both.rank = updates[0].rank + updates[1].rank;
    both.down = updates[0].down;
    both.down.insert(both.down.end(), updates[1].down.begin(), updates[1].down.end());
    both.up.resize(static_cast<size_t>(N * both.rank));
    for (int64_t o = 0; o < N; ++o) {
        int64_t at = 0;
        for (const LowRankUpdate& u : updates) {
            for (int64_t q = 0; q < u.rank; ++q) both.up[o * both.rank + at + q] = u.scale * u.up[o * u.rank + q];
            at += u.rank;
        }
    }
    layer.set_low_rank_updates(ctx, {both});
    EXPECT_TRUE(bit_identical(forward(ctx, layer, x), y_two)) << v.name;
}

// Bad updates are named and change nothing: the layer keeps the set it had.
TEST_P(LowRankUpdateTest, BadUpdatesAreNamedAndChangeNothing) {
    SVDQ_REQUIRE_LEVEL(level());
    Context ctx(test::level_options(level()));
    const Variant& v = variant();
    const std::vector<float> x = input();
    Linear layer(ctx, layer_weights(v, v.activation));
    std::vector<LowRankUpdate> good = two_updates();
    good.pop_back();
    layer.set_low_rank_updates(ctx, good);
    const std::vector<float> before = forward(ctx, layer, x);
    const uint64_t bytes = layer.weight_bytes();

    const auto expect_refused = [&](std::vector<LowRankUpdate> bad, svdq_status status, const std::string& names) {
        try {
            layer.set_low_rank_updates(ctx, std::move(bad));
            ADD_FAILURE() << "accepted: " << names;
        } catch (const Error& e) {
            EXPECT_EQ(e.status(), status) << e.what();
            EXPECT_NE(std::string(e.what()).find(names), std::string::npos) << e.what();
        }
        EXPECT_TRUE(bit_identical(forward(ctx, layer, x), before)) << v.name << ": " << names;
        EXPECT_EQ(layer.weight_bytes(), bytes);
        EXPECT_EQ(layer.low_rank_update_rank(), 5);
    };
    std::vector<LowRankUpdate> bad = two_updates();
    bad[1].down.pop_back();
    expect_refused(bad, SVDQ_ERROR_SHAPE_MISMATCH, "low-rank update 1: down");
    bad = two_updates();
    bad[1].up.resize(bad[1].up.size() + N);
    expect_refused(bad, SVDQ_ERROR_SHAPE_MISMATCH, "low-rank update 1: up");
    bad = two_updates();
    bad[0].rank = 0;
    bad[0].down.clear();
    bad[0].up.clear();
    expect_refused(bad, SVDQ_ERROR_SHAPE_MISMATCH, "low-rank update 0 has rank 0");
    bad = two_updates();
    bad[1].up[17] = std::nanf("");
    expect_refused(bad, SVDQ_ERROR_NON_FINITE, "low-rank update 1: up holds a non-finite value (NaN) at flat index 17");
    bad = two_updates();
    bad[0].down[3] = INFINITY;
    expect_refused(bad, SVDQ_ERROR_NON_FINITE, "low-rank update 0: down");
    bad = two_updates();
    bad[1].scale = INFINITY;
    expect_refused(bad, SVDQ_ERROR_NON_FINITE, "low-rank update 1 has a non-finite scale");
}

INSTANTIATE_TEST_SUITE_P(AllLevelsAndLayers, LowRankUpdateTest,
                         testing::Combine(testing::ValuesIn(test::all_levels()), testing::Range(0, static_cast<int>(std::size(kVariants)))),
                         [](const auto& info) {
                             return std::string(cpu_level_name(std::get<0>(info.param))) + "_" + kVariants[std::get<1>(info.param)].name;
                         });

// The float layer against float64 x (W + sum_i scale_i up_i down_i)^T + bias:
// the weights merged, as a LoRA is defined. Measured 2.5e-7; bound 1e-6.
TEST(LowRankUpdates, FloatLayerEqualsMergedWeights) {
    Context ctx(test::context_options());
    const Variant& v = kVariants[0];
    const LinearWeights w = layer_weights(v, SVDQ_ACTIVATION_NONE);
    Linear layer(ctx, w);
    const std::vector<LowRankUpdate> updates = two_updates();
    layer.set_low_rank_updates(ctx, updates);
    std::vector<double> merged(w.weight.begin(), w.weight.end());
    for (const LowRankUpdate& u : updates)
        for (int64_t o = 0; o < N; ++o)
            for (int64_t j = 0; j < K; ++j)
                for (int64_t q = 0; q < u.rank; ++q)
                    merged[o * K + j] += double(u.scale) * u.up[o * u.rank + q] * u.down[q * K + j];
    const std::vector<float> x = input();
    const std::vector<double> reference =
        test::reference_matmul(x.data(), M, N, K, [&](int64_t o, int64_t j) { return merged[o * K + j]; }, w.bias.data());
    const double error = test::max_rel_error(forward(ctx, layer, x), reference);
    std::printf("float layer + updates vs merged weights: %.2e\n", error);
    EXPECT_LT(error, 1e-6);
}

// The C API: every argument checked and named; a valid set acts as in C++.
TEST(LowRankUpdates, CApiChecksEveryArgument) {
    svdq_context_options o = test::context_options();
    svdq_context* ctx = nullptr;
    ASSERT_EQ(svdq_context_create(&o, &ctx), SVDQ_OK);
    const LinearWeights w = layer_weights(kVariants[0], SVDQ_ACTIVATION_NONE);
    // A view of `data` as `dtype` of `shape` (F16: the first half of the floats' bytes).
    const auto wrap = [](const float* data, svdq_dtype dtype, std::vector<int64_t> shape) {
        int64_t count = 1;
        for (const int64_t d : shape) count *= d;
        svdq_tensor* t = nullptr;
        const uint64_t bytes = static_cast<uint64_t>(count) * (dtype == SVDQ_DTYPE_F32 ? 4 : 2);
        EXPECT_EQ(svdq_tensor_wrap(dtype, shape.data(), static_cast<int32_t>(shape.size()), const_cast<float*>(data), bytes, &t), SVDQ_OK)
            << svdq_last_error_message();
        return t;
    };
    svdq_tensor* weight = wrap(w.weight.data(), SVDQ_DTYPE_F32, {N, K});
    svdq_tensor* bias = wrap(w.bias.data(), SVDQ_DTYPE_F32, {N});
    svdq_linear_desc desc{};
    desc.struct_size = sizeof desc;
    desc.scheme = SVDQ_SCHEME_FLOAT;
    desc.format = SVDQ_FORMAT_FLOAT;
    desc.weight = weight;
    desc.bias = bias;
    svdq_linear* linear = nullptr;
    ASSERT_EQ(svdq_linear_create(ctx, &desc, &linear), SVDQ_OK) << svdq_last_error_message();

    LowRankUpdate u = random_update(5, 0.7f, 201);
    svdq_tensor* down = wrap(u.down.data(), SVDQ_DTYPE_F32, {5, K});
    svdq_tensor* up = wrap(u.up.data(), SVDQ_DTYPE_F32, {N, 5});
    svdq_tensor* up_wrong = wrap(u.up.data(), SVDQ_DTYPE_F32, {N, 4});
    svdq_tensor* down_f16 = wrap(u.down.data(), SVDQ_DTYPE_F16, {5, K});
    svdq_low_rank_update update{sizeof(svdq_low_rank_update), down, up, 0.7f};

    const auto expect_error = [&](svdq_status got, svdq_status status, const char* names) {
        EXPECT_EQ(got, status);
        EXPECT_NE(std::string(svdq_last_error_message()).find(names), std::string::npos) << svdq_last_error_message();
    };
    expect_error(svdq_linear_set_low_rank_updates(nullptr, linear, &update, 1), SVDQ_ERROR_INVALID_ARGUMENT, "context is NULL");
    expect_error(svdq_linear_set_low_rank_updates(ctx, nullptr, &update, 1), SVDQ_ERROR_INVALID_ARGUMENT, "linear is NULL");
    expect_error(svdq_linear_set_low_rank_updates(ctx, linear, nullptr, 1), SVDQ_ERROR_INVALID_ARGUMENT, "updates is NULL");
    expect_error(svdq_linear_set_low_rank_updates(ctx, linear, &update, -1), SVDQ_ERROR_INVALID_ARGUMENT, "count is -1");
    svdq_low_rank_update bad = update;
    bad.struct_size = sizeof(svdq_low_rank_update) + 8;
    expect_error(svdq_linear_set_low_rank_updates(ctx, linear, &bad, 1), SVDQ_ERROR_INVALID_ARGUMENT, "svdq_low_rank_update->struct_size");
    bad = update;
    bad.up = nullptr;
    expect_error(svdq_linear_set_low_rank_updates(ctx, linear, &bad, 1), SVDQ_ERROR_INVALID_ARGUMENT, "updates[0].up is NULL");
    bad = update;
    bad.down = down_f16;
    expect_error(svdq_linear_set_low_rank_updates(ctx, linear, &bad, 1), SVDQ_ERROR_DTYPE, "updates[0].down must be F32");
    bad = update;
    bad.up = up_wrong;
    expect_error(svdq_linear_set_low_rank_updates(ctx, linear, &bad, 1), SVDQ_ERROR_SHAPE_MISMATCH, "updates[0].up has shape");
    bad = update;
    bad.down = up;
    expect_error(svdq_linear_set_low_rank_updates(ctx, linear, &bad, 1), SVDQ_ERROR_SHAPE_MISMATCH, "updates[0].down has shape");

    // Valid: the same outputs as the C++ layer with the same update.
    const std::vector<float> x = input();
    std::vector<float> y(static_cast<size_t>(M * N));
    svdq_tensor* xt = wrap(x.data(), SVDQ_DTYPE_F32, {M, K});
    svdq_tensor* yt = wrap(y.data(), SVDQ_DTYPE_F32, {M, N});
    svdq_low_rank_update pair[] = {update, update};
    pair[1].scale = 0.0f;
    ASSERT_EQ(svdq_linear_set_low_rank_updates(ctx, linear, pair, 2), SVDQ_OK) << svdq_last_error_message();
    ASSERT_EQ(svdq_linear_forward(ctx, linear, xt, yt), SVDQ_OK);
    Context cpp(test::context_options());
    Linear layer(cpp, w);
    layer.set_low_rank_updates(cpp, {u});
    EXPECT_TRUE(bit_identical(y, forward(cpp, layer, x)));
    ASSERT_EQ(svdq_linear_set_low_rank_updates(ctx, linear, nullptr, 0), SVDQ_OK);
    ASSERT_EQ(svdq_linear_forward(ctx, linear, xt, yt), SVDQ_OK);
    layer.set_low_rank_updates(cpp, {});
    EXPECT_TRUE(bit_identical(y, forward(cpp, layer, x)));

    for (svdq_tensor* t : {weight, bias, down, up, up_wrong, down_f16, xt, yt}) svdq_tensor_destroy(t);
    svdq_linear_destroy(linear);
    svdq_context_destroy(ctx);
}

}  // namespace

}  // namespace svdq
