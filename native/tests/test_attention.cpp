// Attention at every CPU level this machine runs, fp32 and (where the level
// has BF16 dot products) BF16, against float64 softmax attention, and the
// SIMD kernels against the scalar reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "backend/context.h"
#include "core/cpu_features.h"
#include "backend/backend.h"
#include "backend/cpu/cpu_kernels.h"
#include "core/aligned.h"
#include "cpu_levels.h"
#include "test_util.h"

namespace svdq {

namespace {

struct Shape {
    int64_t tokens, heads, head_dim;
};

// One token; fewer tokens than a register tile; partial query panels and
// blocks; key-block edges (128 and 256) crossed by one; FLUX's head dim and
// the tiny model's; odd head dims, down to 1.
const Shape kShapes[] = {{1, 1, 16},   {1, 3, 128},   {7, 3, 24},     {7, 1, 16},     {65, 2, 1},
                         {129, 1, 5},  {257, 3, 16},  {300, 3, 16},   {300, 1, 24},   {300, 3, 128},
                         {1536, 1, 128}, {1536, 3, 16}, {1536, 1, 24}};

Context make_context(svdq_cpu_level level) { return Context(test::level_options(level)); }

struct Problem {
    Shape s;
    std::vector<float> q, k, v;

    Problem(Shape shape, uint64_t seed, float qk_stddev = 1.0f)
        : s(shape),
          q(test::gaussian(size(), seed, qk_stddev)),
          k(test::gaussian(size(), seed + 1, qk_stddev)),
          v(test::gaussian(size(), seed + 2)) {}

    size_t size() const { return static_cast<size_t>(s.tokens * s.heads * s.head_dim); }

    std::vector<float> run(Context& ctx, AttentionPrecision precision = AttentionPrecision::fp32) const {
        std::vector<float> out(size(), std::numeric_limits<float>::quiet_NaN());
        ctx.backend().attention(TensorView::host(q.data(), s.tokens, s.heads * s.head_dim), TensorView::host(k.data(), s.tokens, s.heads * s.head_dim),
                                TensorView::host(v.data(), s.tokens, s.heads * s.head_dim), s.head_dim, precision,
                                TensorView::host(out.data(), s.tokens, s.heads * s.head_dim));
        return out;
    }
};

// Every row up to 300 tokens, every 37th and the last beyond (the float64
// reference is O(S^2) per row set).
std::vector<int64_t> checked_rows(int64_t tokens) {
    std::vector<int64_t> rows;
    for (int64_t i = 0; i < tokens; ++i)
        if (tokens <= 300 || i % 37 == 0 || i == tokens - 1) rows.push_back(i);
    return rows;
}

// softmax(q k^T / sqrt(d)) v in float64 for the given query rows, all heads:
// [rows][heads][d].
std::vector<double> reference(const Problem& p, const std::vector<int64_t>& rows) {
    const int64_t h_count = p.s.heads, d = p.s.head_dim, stride = h_count * d, n = p.s.tokens;
    std::vector<double> out(rows.size() * static_cast<size_t>(stride), 0.0), s(static_cast<size_t>(n));
    for (size_t r = 0; r < rows.size(); ++r)
        for (int64_t h = 0; h < h_count; ++h) {
            double mx = -std::numeric_limits<double>::infinity(), sum = 0.0;
            for (int64_t j = 0; j < n; ++j) {
                double dot = 0.0;
                for (int64_t t = 0; t < d; ++t)
                    dot += static_cast<double>(p.q[static_cast<size_t>(rows[r] * stride + h * d + t)]) *
                           p.k[static_cast<size_t>(j * stride + h * d + t)];
                s[static_cast<size_t>(j)] = dot / std::sqrt(static_cast<double>(d));
                mx = std::max(mx, s[static_cast<size_t>(j)]);
            }
            for (double& x : s) sum += (x = std::exp(x - mx));
            double* o = out.data() + r * static_cast<size_t>(stride) + h * d;
            for (int64_t j = 0; j < n; ++j)
                for (int64_t t = 0; t < d; ++t) o[t] += s[static_cast<size_t>(j)] / sum * p.v[static_cast<size_t>(j * stride + h * d + t)];
        }
    return out;
}

std::vector<float> pick_rows(const std::vector<float>& out, const std::vector<int64_t>& rows, int64_t stride) {
    std::vector<float> picked;
    for (int64_t i : rows) picked.insert(picked.end(), out.begin() + i * stride, out.begin() + (i + 1) * stride);
    return picked;
}

// BF16 attention (avx512_bf16) rounds Q, K, V (RNE, |x^ - x| <= 2^-8 |x|) and the
// weights P to BF16 and accumulates in fp32. Per output, against exact
// attention on the inputs `p` holds: each score moves by at most
// e = ((1 + 2^-8)^2 (1 + gamma(d + 2)) - 1) sum_t |q_t k_t| / sqrt(d), plus
// the fp32 rounding of s - m (2 u (|s| + |m|)); only the ratios of weights
// matter after normalising, and each moves by a factor within
// F = e^(2 max e) (1 + 2^-8)(1 + 4 u) / ((1 - 2^-8)(1 - 4 u)) (P's rounding
// and exp's few-ulp error); with V's rounding and the fp32 sums (gamma(2n + 8))
// the output moves by at most (F (1 + 2^-8)(1 + gamma(2n + 8)) - 1) sum_j w_j |v_j|.
// With `rounded`, q, k and v are taken as already rounded (the scalar
// reference run on BF16 inputs): only P's rounding and both sides' fp32
// sums and exps remain (twice gamma and 8 u), V's factor drops.
std::vector<double> bf16_bounds(const Problem& p, const std::vector<int64_t>& rows, bool rounded) {
    const int64_t h_count = p.s.heads, d = p.s.head_dim, stride = h_count * d, n = p.s.tokens;
    const double u = std::ldexp(1.0, -24), b = std::ldexp(1.0, -8), inv_root = 1.0 / std::sqrt(static_cast<double>(d));
    const auto gamma = [u](int64_t count) { return static_cast<double>(count) * u / (1.0 - static_cast<double>(count) * u); };
    const double score_factor = rounded ? 2.0 * gamma(d + 2) : (1.0 + b) * (1.0 + b) * (1.0 + gamma(d + 2)) - 1.0;
    const double exp_error = rounded ? 8.0 * u : 4.0 * u, v_factor = rounded ? 1.0 : 1.0 + b;
    const double sums = rounded ? 2.0 * gamma(2 * n + 8) : gamma(2 * n + 8);
    std::vector<double> bound(rows.size() * static_cast<size_t>(stride)), s(static_cast<size_t>(n)), e(s.size());
    for (size_t r = 0; r < rows.size(); ++r)
        for (int64_t h = 0; h < h_count; ++h) {
            double mx = -std::numeric_limits<double>::infinity();
            for (int64_t j = 0; j < n; ++j) {
                double dot = 0.0, mag = 0.0;
                for (int64_t t = 0; t < d; ++t) {
                    const double prod = static_cast<double>(p.q[static_cast<size_t>(rows[r] * stride + h * d + t)]) *
                                        p.k[static_cast<size_t>(j * stride + h * d + t)];
                    dot += prod;
                    mag += std::fabs(prod);
                }
                s[static_cast<size_t>(j)] = dot * inv_root;
                e[static_cast<size_t>(j)] = score_factor * mag * inv_root;
                mx = std::max(mx, s[static_cast<size_t>(j)]);
            }
            double max_e = 0.0, sum = 0.0;
            for (int64_t j = 0; j < n; ++j) {
                max_e = std::max(max_e, e[static_cast<size_t>(j)] + 2.0 * u * (std::fabs(s[static_cast<size_t>(j)]) + std::fabs(mx)));
                sum += (s[static_cast<size_t>(j)] = std::exp(s[static_cast<size_t>(j)] - mx));
            }
            const double f = std::exp(2.0 * max_e) * (1.0 + b) * (1.0 + exp_error) / ((1.0 - b) * (1.0 - exp_error));
            const double factor = f * v_factor * (1.0 + sums) - 1.0;
            for (int64_t t = 0; t < d; ++t) {
                double a = 0.0;
                for (int64_t j = 0; j < n; ++j) a += s[static_cast<size_t>(j)] / sum * std::fabs(p.v[static_cast<size_t>(j * stride + h * d + t)]);
                bound[r * static_cast<size_t>(stride) + static_cast<size_t>(h * d + t)] = factor * a;
            }
        }
    return bound;
}

// got within the bf16 level's derived bounds of exact attention on p's inputs.
void expect_within_bf16_bounds(const std::vector<float>& got, const std::vector<double>& want, const std::vector<double>& bound) {
    for (size_t i = 0; i < want.size(); ++i) ASSERT_LE(std::fabs(got[i] - want[i]), bound[i]) << "element " << i;
}

// A kernel under test: a level's fp32 attention, or its BF16 one.
struct Variant {
    svdq_cpu_level level;
    AttentionPrecision precision;
};

// Every level's fp32 kernel, and the BF16 kernel of the level that has one.
std::vector<Variant> variants() {
    std::vector<Variant> all;
    for (svdq_cpu_level level : test::all_levels()) all.push_back({level, AttentionPrecision::fp32});
    all.push_back({SVDQ_CPU_AVX512_BF16, AttentionPrecision::bf16});
    return all;
}

// Every value of out [rows, heads * d] NaN where nan_expected(row, head),
// finite elsewhere.
template <class Expected>
void expect_nan_where(const std::vector<float>& out, int64_t rows, int64_t heads, int64_t d, const Expected& nan_expected,
                      const char* what) {
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t h = 0; h < heads; ++h)
            for (int64_t t = 0; t < d; ++t) {
                const float x = out[static_cast<size_t>((i * heads + h) * d + t)];
                if (nan_expected(i, h)) {
                    ASSERT_TRUE(std::isnan(x)) << what << ": row " << i << " head " << h << " dim " << t << " is " << x;
                } else {
                    ASSERT_TRUE(std::isfinite(x)) << what << ": row " << i << " head " << h << " dim " << t << " is " << x;
                }
            }
}

class AttentionTest : public testing::TestWithParam<std::tuple<Variant, int>> {
protected:
    void SetUp() override { SVDQ_REQUIRE_LEVEL(level()); }
    svdq_cpu_level level() const { return std::get<0>(GetParam()).level; }
    AttentionPrecision precision() const { return std::get<0>(GetParam()).precision; }
    Shape shape() const { return kShapes[std::get<1>(GetParam())]; }
    bool rounds_to_bf16() const { return precision() == AttentionPrecision::bf16; }
    // The float32 levels within `tolerance` of the largest output; the BF16
    // level within its derived bounds.
    void expect_matches(const std::vector<float>& got, const Problem& p, const std::vector<int64_t>& rows, double tolerance) const {
        const std::vector<double> want = reference(p, rows);
        if (rounds_to_bf16()) {
            expect_within_bf16_bounds(got, want, bf16_bounds(p, rows, false));
        } else {
            EXPECT_LT(test::max_rel_error(got, want), tolerance);
        }
    }
};

}  // namespace

// Outputs are convex combinations of V rows (|v| < ~5): float32 scores and
// sums over up to 1536 keys land within ~2e-6 of the largest output.
TEST_P(AttentionTest, MatchesFloat64) {
    Context ctx = make_context(level());
    const Problem p(shape(), 11);
    const std::vector<int64_t> rows = checked_rows(p.s.tokens);
    const std::vector<float> out = p.run(ctx, precision());
    expect_matches(pick_rows(out, rows, p.s.heads * p.s.head_dim), p, rows, 1e-5);
    for (float x : out) ASSERT_TRUE(std::isfinite(x));  // every row written
}

// The kernel's contract: any query range, only those rows written.
TEST_P(AttentionTest, KernelWritesExactlyItsTile) {
    const CpuKernels& kernels = cpu_kernels_for(level());
    const Problem p(shape(), 21);
    const int64_t n = p.s.tokens, stride = p.s.heads * p.s.head_dim, head = p.s.heads - 1;
    const int64_t q0 = n / 3, q1 = std::max(q0 + 1, n - n / 5);  // crosses query blocks where n allows
    std::vector<float> out(p.size(), -7.0f);
    const AttentionArgs args{p.q.data(), p.k.data(), p.v.data(), n, n, p.s.heads, p.s.head_dim, out.data(),
                             1.0f / std::sqrt(static_cast<float>(p.s.head_dim))};
    // The scratch the kernel declares, then a guard it must not touch.
    const size_t need = rounds_to_bf16() ? kernels.attention_bf16_scratch(args) : kernels.attention_scratch(args), guard = 64;
    std::vector<float, AlignedAllocator<float>> scratch(need + guard, -3.0f);
    (rounds_to_bf16() ? kernels.attention_bf16 : kernels.attention)(args, {head, q0, q1}, scratch.data());
    for (size_t i = need; i < need + guard; ++i) ASSERT_EQ(scratch[i], -3.0f) << "written past its declared scratch at " << i;
    std::vector<int64_t> rows;
    for (int64_t i = q0; i < q1; ++i) rows.push_back(i);
    const std::vector<double> ref = reference(p, rows);
    const std::vector<double> bound = rounds_to_bf16() ? bf16_bounds(p, rows, false) : std::vector<double>();
    double diff = 0.0, scale = 0.0;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t h = 0; h < p.s.heads; ++h)
            for (int64_t t = 0; t < p.s.head_dim; ++t) {
                const float got = out[static_cast<size_t>(i * stride + h * p.s.head_dim + t)];
                if (h != head || i < q0 || i >= q1) {
                    ASSERT_EQ(got, -7.0f) << "row " << i << " head " << h << " is outside the tile";
                    continue;
                }
                const size_t at = static_cast<size_t>((i - q0) * stride + h * p.s.head_dim + t);
                const double want = ref[at];
                if (rounds_to_bf16()) {
                    ASSERT_LE(std::fabs(got - want), bound[at]) << "row " << i << " dim " << t;
                }
                diff = std::max(diff, std::fabs(got - want));
                scale = std::max(scale, std::fabs(want));
            }
    if (!rounds_to_bf16()) {
        EXPECT_LT(diff / scale, 1e-5);
    }
}

// Scores of magnitude ~1e3 (q, k ~ N(0, 30^2)): without the running max
// exp overflows. Float32 scores of that size carry ~1e-4 absolute error,
// which becomes that relative error in the near-one-hot weights (measured
// up to 1.4e-4). At avx512_bf16, BF16 q and k move such scores by units, so
// its derived bound says little there; finiteness is the point.
TEST_P(AttentionTest, LargeScoresStayFiniteAndCorrect) {
    Context ctx = make_context(level());
    const Problem p(shape(), 31, 30.0f);
    const std::vector<int64_t> rows = checked_rows(p.s.tokens);
    const std::vector<float> out = p.run(ctx, precision());
    for (float x : out) ASSERT_TRUE(std::isfinite(x));
    expect_matches(pick_rows(out, rows, p.s.heads * p.s.head_dim), p, rows, 1e-3);
}

// Scores 2 j that rise with the key index j (every 128-key block lifts the
// running max by 256, so the correction underflows), and equal scores of
// 1600 sqrt(d) (exp(s) alone overflows; the answer is the mean of V). The
// first bound is float32 rounding in scores up to 3e3 (sums of d products
// up to 270), which neighbouring keys' weights feel relatively: measured up
// to 1.2e-3 at 1536 tokens, d = 128. At avx512_bf16 the equal scores stay
// exact (40 and 40 are BF16 values), so the answer is the mean of V rounded
// to BF16: within 2^-8 mean |v| plus fp32 sums.
TEST_P(AttentionTest, RisingAndEqualHugeScores) {
    Context ctx = make_context(level());
    Problem p(shape(), 41);
    const int64_t n = p.s.tokens, stride = p.s.heads * p.s.head_dim;
    const float root_d = std::sqrt(static_cast<float>(p.s.head_dim));
    std::fill(p.q.begin(), p.q.end(), 40.0f);
    for (int64_t j = 0; j < n; ++j)
        std::fill(p.k.begin() + j * stride, p.k.begin() + (j + 1) * stride, 2.0f * static_cast<float>(j) / (40.0f * root_d));
    const std::vector<int64_t> rows = checked_rows(n);
    std::vector<float> out = p.run(ctx, precision());
    for (float x : out) ASSERT_TRUE(std::isfinite(x));
    expect_matches(pick_rows(out, rows, stride), p, rows, 4e-3);

    std::fill(p.k.begin(), p.k.end(), 40.0f);
    out = p.run(ctx, precision());
    std::vector<double> mean(static_cast<size_t>(stride), 0.0), mean_abs(mean.size(), 0.0);
    for (int64_t j = 0; j < n; ++j)
        for (int64_t c = 0; c < stride; ++c) {
            const double v = p.v[static_cast<size_t>(j * stride + c)];
            mean[static_cast<size_t>(c)] += v / static_cast<double>(n);
            mean_abs[static_cast<size_t>(c)] += std::fabs(v) / static_cast<double>(n);
        }
    const double u = std::ldexp(1.0, -24), bf16_factor = std::ldexp(1.0, -8) + 2.0 * static_cast<double>(2 * n + 8) * u;
    for (int64_t i = 0; i < n; ++i) {
        const std::vector<float> row(out.begin() + i * stride, out.begin() + (i + 1) * stride);
        if (!rounds_to_bf16()) {
            ASSERT_LT(test::max_rel_error(row, mean), 1e-5) << "row " << i;
            continue;
        }
        for (int64_t c = 0; c < stride; ++c)
            ASSERT_LE(std::fabs(row[static_cast<size_t>(c)] - mean[static_cast<size_t>(c)]), bf16_factor * mean_abs[static_cast<size_t>(c)])
                << "row " << i << " column " << c;
    }
}

// A NaN in one query reaches that query's output row in its head and no
// other; a NaN in one key, every query of its head: never a finite average
// hiding it (the SIMD exp keeps NaN), so the next layer's input check names it.
TEST_P(AttentionTest, NanReachesTheOutputsThatSeeIt) {
    Context ctx = make_context(level());
    const int64_t n = shape().tokens, d = shape().head_dim, heads = shape().heads, stride = heads * d, head = heads - 1;
    const Problem clean(shape(), 101);
    Problem p = clean;
    const int64_t row = n / 2;
    p.q[static_cast<size_t>(row * stride + head * d)] = std::numeric_limits<float>::quiet_NaN();
    expect_nan_where(p.run(ctx, precision()), n, heads, d, [&](int64_t i, int64_t h) { return i == row && h == head; }, "NaN in a query");
    p = clean;
    p.k[static_cast<size_t>((n - 1) * stride + head * d + d - 1)] = std::numeric_limits<float>::quiet_NaN();
    expect_nan_where(p.run(ctx, precision()), n, heads, d, [&](int64_t, int64_t h) { return h == head; }, "NaN in the last key");
}

INSTANTIATE_TEST_SUITE_P(AllLevelsAndShapes, AttentionTest,
                         testing::Combine(testing::ValuesIn(variants()),
                                          testing::Range(0, static_cast<int>(std::size(kShapes)))),
                         [](const auto& info) {
                             const Variant v = std::get<0>(info.param);
                             const Shape s = kShapes[std::get<1>(info.param)];
                             return std::string(cpu_level_name(v.level)) + (v.precision == AttentionPrecision::bf16 ? "_bf16attention" : "") +
                                    "_s" + std::to_string(s.tokens) + "_h" + std::to_string(s.heads) + "_d" + std::to_string(s.head_dim);
                         });

// BF16 attention against the scalar reference run on Q, K and V rounded to
// BF16: only P's rounding and fp32 order remain (bf16_bounds with `rounded`).
class Bf16AttentionTest : public testing::TestWithParam<int> {
protected:
    void SetUp() override { SVDQ_REQUIRE_LEVEL(SVDQ_CPU_AVX512_BF16); }
};

TEST_P(Bf16AttentionTest, MatchesScalarOnRoundedInputs) {
    Context ctx = make_context(SVDQ_CPU_AVX512_BF16), scalar = make_context(SVDQ_CPU_SCALAR);
    const Problem p(kShapes[GetParam()], 61);
    Problem rounded = p;
    rounded.q = test::bf16_values(p.q);
    rounded.k = test::bf16_values(p.k);
    rounded.v = test::bf16_values(p.v);
    const std::vector<int64_t> rows = checked_rows(p.s.tokens);
    const int64_t stride = p.s.heads * p.s.head_dim;
    const std::vector<float> want = pick_rows(rounded.run(scalar), rows, stride);
    expect_within_bf16_bounds(pick_rows(p.run(ctx, AttentionPrecision::bf16), rows, stride), std::vector<double>(want.begin(), want.end()),
                              bf16_bounds(rounded, rows, true));
}

INSTANTIATE_TEST_SUITE_P(Shapes, Bf16AttentionTest, testing::Range(0, static_cast<int>(std::size(kShapes))), [](const auto& info) {
    const Shape s = kShapes[info.param];
    return "avx512_bf16_s" + std::to_string(s.tokens) + "_h" + std::to_string(s.heads) + "_d" + std::to_string(s.head_dim);
});

// BF16 attention asked of a level without BF16 dot products is its fp32
// attention, bit for bit; at avx512_bf16 the fp32 request stays fp32 (the
// avx512_vnni kernel's bits).
class Bf16Request : public testing::TestWithParam<svdq_cpu_level> {
protected:
    void SetUp() override { SVDQ_REQUIRE_LEVEL(GetParam()); }
};

TEST_P(Bf16Request, IsFp32WithoutBf16DotProducts) {
    const Problem p({300, 2, 128}, 71);
    Context ctx = make_context(GetParam());
    if (GetParam() != SVDQ_CPU_AVX512_BF16) {
        EXPECT_EQ(p.run(ctx, AttentionPrecision::bf16), p.run(ctx));
        return;
    }
    Context vnni = make_context(SVDQ_CPU_AVX512_VNNI);
    EXPECT_EQ(p.run(ctx), p.run(vnni));
    EXPECT_NE(p.run(ctx, AttentionPrecision::bf16), p.run(ctx));
}

INSTANTIATE_TEST_SUITE_P(AllLevels, Bf16Request, testing::ValuesIn(test::all_levels()),
                         [](const auto& info) { return std::string(cpu_level_name(info.param)); });

// The AVX-512 fp32 kernel runs the AVX2 kernel's operations lane for lane:
// the same bits on every shape (tails, odd head dims, a query tile crossed),
// with ordinary and with large scores (exp's clamp and wide maxima).
TEST(Attention, Avx512EqualsAvx2BitForBit) {
    SVDQ_REQUIRE_LEVEL(SVDQ_CPU_AVX512_VNNI);
    Context avx2 = make_context(SVDQ_CPU_AVX2), avx512 = make_context(SVDQ_CPU_AVX512_VNNI);
    for (const Shape& s : kShapes)
        for (float qk_stddev : {1.0f, 6.0f}) {
            const Problem p(s, 81, qk_stddev);
            const std::vector<float> want = p.run(avx2), got = p.run(avx512);
            ASSERT_EQ(got.size(), want.size());
            int64_t differing = 0;
            for (size_t i = 0; i < got.size(); ++i) differing += got[i] != want[i];
            EXPECT_EQ(differing, 0) << s.tokens << " tokens, " << s.heads << " heads of " << s.head_dim << ", q and k sd " << qk_stddev;
        }
}

// The SIMD level against the scalar reference on FLUX's shape (one head of
// the 1536-token joint attention): only the summation order differs.
TEST(Attention, Avx2MatchesScalarOnFluxShape) {
    SVDQ_REQUIRE_LEVEL(SVDQ_CPU_AVX2);
    Context scalar = make_context(SVDQ_CPU_SCALAR), avx2 = make_context(SVDQ_CPU_AVX2);
    const Problem p({1536, 2, 128}, 51);
    EXPECT_LT(test::max_rel_error(p.run(avx2), p.run(scalar)), 1e-5);
}

// The text encoders' attention (Backend::biased_attention): a scale, a
// per-head bias [heads * queries, keys], a key bias holding float's lowest
// (transformers' padding mask) and -inf, causal or not.
namespace {

struct BiasedCase {
    int64_t queries, keys, heads, head_dim;
    float scale;
    bool causal;
};

// Head dims and key counts off the loops' steps; query panels and key blocks
// crossed; more keys than queries; whole key blocks (the SIMD kernels' 128,
// the reference's 256) masked with -inf first; causal across two query
// blocks (1024 queries each).
const BiasedCase kBiasedCases[] = {{45, 45, 2, 64, 1.0f, false},   {45, 45, 2, 64, 0.125f, true}, {77, 77, 3, 40, 0.3f, true},
                                   {130, 130, 2, 7, 1.0f, false},  {6, 6, 1, 129, 0.0884f, false}, {1, 1, 1, 1, 1.0f, true},
                                   {5, 300, 2, 24, 0.5f, false},   {8, 1200, 1, 16, 1.0f, false}, {1100, 1100, 1, 8, 0.25f, true}};

std::string describe(const BiasedCase& c) {
    return std::to_string(c.queries) + " queries, " + std::to_string(c.keys) + " keys, " + std::to_string(c.heads) + " heads of " +
           std::to_string(c.head_dim) + (c.causal ? ", causal" : "");
}

struct BiasedProblem {
    BiasedCase c;
    std::vector<float> q, k, v, bias, mask;

    explicit BiasedProblem(const BiasedCase& bc)
        : c(bc),
          q(test::gaussian(static_cast<size_t>(c.queries * width()), 91, 0.8f)),
          k(test::gaussian(static_cast<size_t>(c.keys * width()), 92, 0.8f)),
          v(test::gaussian(static_cast<size_t>(c.keys * width()), 93)),
          bias(test::gaussian(static_cast<size_t>(c.heads * c.queries * c.keys), 94, 2.0f)),
          mask(static_cast<size_t>(c.keys), 0.0f) {
        for (int64_t j = c.keys - c.keys / 8; j < c.keys; ++j) mask[static_cast<size_t>(j)] = std::numeric_limits<float>::lowest();
        if (!c.causal)  // a causal first query sees key 0 only
            for (int64_t j = 0; j < c.keys / 4; ++j) mask[static_cast<size_t>(j)] = -std::numeric_limits<float>::infinity();
    }

    int64_t width() const { return c.heads * c.head_dim; }

    std::vector<float> run(Context& ctx) {
        AttentionBias b;
        b.scale = c.scale;
        b.bias = TensorView::host(bias.data(), c.heads * c.queries, c.keys);
        b.key_bias = TensorView::host(mask.data(), 1, c.keys);
        b.causal = c.causal;
        std::vector<float> out(q.size(), std::numeric_limits<float>::quiet_NaN());
        ctx.backend().biased_attention(TensorView::host(q.data(), c.queries, width()), TensorView::host(k.data(), c.keys, width()),
                                       TensorView::host(v.data(), c.keys, width()), c.head_dim, b,
                                       TensorView::host(out.data(), c.queries, width()));
        return out;
    }

    // softmax(scale q k^T + bias + mask) v in float64 from the definition.
    std::vector<double> reference() const {
        const int64_t d = c.head_dim, stride = width();
        std::vector<double> want(q.size(), 0.0), s(static_cast<size_t>(c.keys));
        for (int64_t i = 0; i < c.queries; ++i)
            for (int64_t h = 0; h < c.heads; ++h) {
                const int64_t seen = c.causal ? std::min(c.keys, i + 1) : c.keys;
                double mx = -std::numeric_limits<double>::infinity(), sum = 0.0;
                for (int64_t j = 0; j < seen; ++j) {
                    double dot = 0.0;
                    for (int64_t t = 0; t < d; ++t)
                        dot += static_cast<double>(q[static_cast<size_t>(i * stride + h * d + t)]) * k[static_cast<size_t>(j * stride + h * d + t)];
                    s[static_cast<size_t>(j)] = c.scale * dot + bias[static_cast<size_t>((h * c.queries + i) * c.keys + j)] + mask[static_cast<size_t>(j)];
                    mx = std::max(mx, s[static_cast<size_t>(j)]);
                }
                for (int64_t j = 0; j < seen; ++j) sum += (s[static_cast<size_t>(j)] = std::exp(s[static_cast<size_t>(j)] - mx));
                for (int64_t j = 0; j < seen; ++j)
                    for (int64_t t = 0; t < d; ++t)
                        want[static_cast<size_t>(i * stride + h * d + t)] +=
                            s[static_cast<size_t>(j)] / sum * v[static_cast<size_t>(j * stride + h * d + t)];
            }
        return want;
    }
};

class BiasedAttention : public testing::TestWithParam<svdq_cpu_level> {
protected:
    void SetUp() override { SVDQ_REQUIRE_LEVEL(GetParam()); }
};

}  // namespace

// Every level against float64. Rows that see only masked keys are not asked
// of it.
TEST_P(BiasedAttention, MatchesFloat64) {
    Context ctx = make_context(GetParam());
    for (const BiasedCase& c : kBiasedCases) {
        SCOPED_TRACE(describe(c));
        BiasedProblem p(c);
        const std::vector<float> out = p.run(ctx);
        for (float x : out) ASSERT_TRUE(std::isfinite(x));  // every row written
        EXPECT_LT(test::max_rel_error(out, p.reference()), 1e-5);
    }
}

// A NaN in the bias reaches its query's row in its head, nowhere else.
TEST_P(BiasedAttention, NanInTheBiasReachesItsRow) {
    Context ctx = make_context(GetParam());
    BiasedProblem p(kBiasedCases[0]);
    const BiasedCase& c = p.c;
    const int64_t head = 1, row = 10, key = 20;
    p.bias[static_cast<size_t>((head * c.queries + row) * c.keys + key)] = std::numeric_limits<float>::quiet_NaN();
    expect_nan_where(p.run(ctx), c.queries, c.heads, c.head_dim, [&](int64_t i, int64_t h) { return i == row && h == head; },
                     "NaN in the bias");
}

INSTANTIATE_TEST_SUITE_P(AllLevels, BiasedAttention, testing::ValuesIn(test::all_levels()),
                         [](const auto& info) { return std::string(cpu_level_name(info.param)); });

// The AVX-512 kernel adds the bias and masks as the AVX2 one does: the same
// bits, as for plain attention.
TEST(BiasedAttentionBits, Avx512EqualsAvx2) {
    SVDQ_REQUIRE_LEVEL(SVDQ_CPU_AVX512_VNNI);
    Context avx2 = make_context(SVDQ_CPU_AVX2), avx512 = make_context(SVDQ_CPU_AVX512_VNNI);
    for (const BiasedCase& c : kBiasedCases) {
        BiasedProblem p(c);
        EXPECT_EQ(p.run(avx512), p.run(avx2)) << describe(c);
    }
}

}  // namespace svdq
