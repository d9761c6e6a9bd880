// Every CPU kernel level this machine can run, against float64 math.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/cpu_ops.h"
#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "formats/nunchaku_flux_layout.h"
#include "core/numerics/int4.h"
#include "cpu_levels.h"
#include "test_util.h"

namespace svdq {

namespace {

struct Shape {
    int64_t m, n, k;
};

// M = 1, odd M, N not a multiple of the 64-column tile, K at one group, at
// FLUX width and at FLUX's MLP width; more rows than one thread tile.
const Shape kShapes[] = {{1, 64, 64},   {3, 37, 64},    {17, 130, 128}, {1, 200, 3072},
                         {9, 65, 3072}, {5, 33, 12288}, {70, 3, 192},   {200, 71, 256}};

class CpuKernelTest : public testing::TestWithParam<std::tuple<svdq_cpu_level, int>> {
protected:
    void SetUp() override { SVDQ_REQUIRE_LEVEL(std::get<0>(GetParam())); }
    const CpuKernels& kernels() const { return cpu_kernels_for(std::get<0>(GetParam())); }
    Shape shape() const { return kShapes[std::get<1>(GetParam())]; }
    ThreadPool pool_{2};
    std::vector<float> prepared_;  // run_gemm_w4a16's x as the level prepares it
};

std::vector<double> apply_gelu(std::vector<double> y) {
    for (double& v : y) v = test::gelu_tanh_ref(v);
    return y;
}

}  // namespace

TEST_P(CpuKernelTest, GemmF32MatchesFloat64) {
    const int64_t m = shape().m, n = shape().n, k = shape().k;
    const auto x = test::gaussian(static_cast<size_t>(m * k), 1);
    const auto w = test::gaussian(static_cast<size_t>(n * k), 2);
    const auto bias = test::gaussian(static_cast<size_t>(n), 3);
    const PackedWeights pw = kernels().pack_f32(w.data(), n, k);
    std::vector<float> y(static_cast<size_t>(m * n));
    for (int32_t act : {SVDQ_ACTIVATION_NONE, SVDQ_ACTIVATION_GELU_TANH}) {
        run_gemm_f32(kernels(), pool_, {x.data(), m, &pw, y.data(), {bias.data(), act}});
        auto ref = test::reference_matmul(x.data(), m, n, k, [&](int64_t o, int64_t j) { return w[static_cast<size_t>(o * k + j)]; },
                                          bias.data());
        if (act == SVDQ_ACTIVATION_GELU_TANH) ref = apply_gelu(ref);
        EXPECT_LT(test::max_rel_error(y, ref), 1e-5);
    }
}

// BF16 weights widen exactly, so the BF16 GEMM must give gemm_f32's result
// on the same values bit for bit, in half the bytes.
TEST_P(CpuKernelTest, GemmBf16IsGemmF32OnBf16Values) {
    const int64_t m = shape().m, n = shape().n, k = shape().k;
    const auto x = test::gaussian(static_cast<size_t>(m * k), 1);
    const auto w = test::bf16_values(test::gaussian(static_cast<size_t>(n * k), 2));
    const auto bias = test::gaussian(static_cast<size_t>(n), 3);
    const PackedWeights p16 = kernels().pack_bf16(w.data(), n, k), p32 = kernels().pack_f32(w.data(), n, k);
    EXPECT_EQ(p16.memory_bytes() * 2, p32.memory_bytes());
    std::vector<float> y16(static_cast<size_t>(m * n)), y32(y16.size());
    for (int32_t act : {SVDQ_ACTIVATION_NONE, SVDQ_ACTIVATION_GELU_TANH}) {
        run_gemm_bf16(kernels(), pool_, {x.data(), m, &p16, y16.data(), {bias.data(), act}});
        run_gemm_f32(kernels(), pool_, {x.data(), m, &p32, y32.data(), {bias.data(), act}});
        ASSERT_EQ(y16, y32) << "activation " << act;
        auto ref = test::reference_matmul(x.data(), m, n, k, [&](int64_t o, int64_t j) { return w[static_cast<size_t>(o * k + j)]; },
                                          bias.data());
        if (act == SVDQ_ACTIVATION_GELU_TANH) ref = apply_gelu(ref);
        EXPECT_LT(test::max_rel_error(y16, ref), 1e-5);
    }
}

TEST_P(CpuKernelTest, GemmW4A16MatchesFloat64OnDequantizedWeights) {
    const int64_t m = shape().m, n = shape().n, k = shape().k;
    const auto x = test::gaussian(static_cast<size_t>(m * k), 4);
    const auto w = test::gaussian(static_cast<size_t>(n * k), 5);
    const auto bias = test::gaussian(static_cast<size_t>(n), 6);
    const Int4Matrix qw = quantize_int4(w.data(), n, k, pool_);
    const PackedWeights pw = kernels().pack_w4a16(qw, nullptr);
    std::vector<float> y(static_cast<size_t>(m * n));
    run_gemm_w4a16(kernels(), pool_, {x.data(), m, &pw, y.data(), {bias.data(), SVDQ_ACTIVATION_NONE}}, prepared_);
    const auto xr = test::w4a16_input(std::get<0>(GetParam()), x);
    const auto ref = test::reference_matmul(xr.data(), m, n, k, [&](int64_t o, int64_t j) { return qw.value(o, j); }, bias.data());
    EXPECT_LT(test::max_rel_error(y, ref), 1e-5);
    // Against the unquantized weights only INT4 noise remains: ~0.1 for Gaussians.
    const auto exact = test::reference_matmul(x.data(), m, n, k, [&](int64_t o, int64_t j) { return w[static_cast<size_t>(o * k + j)]; },
                                              bias.data());
    EXPECT_LT(test::frobenius_rel_error(y, exact), 0.15);
}

// AWQ zero points: a weight is (q + 8) * scale + zero. Arbitrary zeros against
// float64 and the scalar reference (both on X as the level reads it); zeros
// of -8 * scale against the symmetric weights they stand for.
TEST_P(CpuKernelTest, GemmW4A16WithZeroPointsMatchesFloat64AndTheReference) {
    const int64_t m = shape().m, n = shape().n, k = shape().k;
    const int64_t groups = k / 64;
    const auto x = test::gaussian(static_cast<size_t>(m * k), 11);
    const auto bias = test::gaussian(static_cast<size_t>(n), 12);
    const Int4Matrix qw = quantize_int4(test::gaussian(static_cast<size_t>(n * k), 13).data(), n, k, pool_);
    auto zeros = test::gaussian(static_cast<size_t>(n * groups), 14, 0.5f);
    for (float& z : zeros) z = round_to_bf16(z);  // BF16, as AWQ files store them
    const auto xr = test::w4a16_input(std::get<0>(GetParam()), x);
    const auto gemm = [&](const CpuKernels& kern, const float* z, const std::vector<float>& input) {
        const PackedWeights pw = kern.pack_w4a16(qw, z);
        std::vector<float> y(static_cast<size_t>(m * n));
        run_gemm_w4a16(kern, pool_, {input.data(), m, &pw, y.data(), {bias.data(), SVDQ_ACTIVATION_NONE}}, prepared_);
        return y;
    };
    const std::vector<float> y = gemm(kernels(), zeros.data(), x);
    const auto ref = test::reference_matmul(xr.data(), m, n, k, [&](int64_t o, int64_t j) {
        const size_t g = static_cast<size_t>(o * groups + j / 64);
        return (int4_at(qw.row(o), j) + 8) * static_cast<double>(qw.scales[g]) + zeros[g];
    }, bias.data());
    EXPECT_LT(test::max_rel_error(y, ref), 1e-5);
    EXPECT_LT(test::max_rel_error(y, gemm(cpu_kernels_for(SVDQ_CPU_SCALAR), zeros.data(), xr)), 1e-5);

    std::vector<float> symmetric(qw.scales.size());
    for (size_t g = 0; g < symmetric.size(); ++g) symmetric[g] = -8.0f * qw.scales[g];
    EXPECT_LT(test::max_rel_error(gemm(kernels(), symmetric.data(), x), gemm(kernels(), nullptr, x)), 1e-6);
}

namespace {

// gamma_n = n u / (1 - n u), u = 2^-24: the relative bound on n fp32
// roundings in a sum, in any order (Higham, Accuracy and Stability, 3.1).
double gamma32(int64_t n) {
    const double u = std::ldexp(1.0, -24);
    return static_cast<double>(n) * u / (1.0 - static_cast<double>(n) * u);
}

}  // namespace

// The avx512_bf16 level's W4A16 GEMM rounds X to BF16 (x^, RNE: |x^ - x| <=
// 2^-8 |x|, 8 significant bits) and keeps the weights exact. With AWQ
// zeros, per 64-group g it sums D = sum u x^ and S = sum x^ in fp32 (64
// roundings each, the products u x^ are exact) and adds scale D + zero S to
// the output (two FMAs per group); without them it sums D = sum q x^ and adds
// scale D (one FMA), |q| = |u - 8| <= u + 8 being covered by the same terms
// with zero = -8 scale. So, with G groups and T = |bias| + sum_g (|scale|
// sum u |x^| + |zero| sum |x^|), its fp32 error is at most gamma(64 + 2G + 2) T; the
// scalar reference on x^ adds gamma(k + 2) sum |w x^| (its weights rounded
// to fp32 once, K sequential sums, the bias). Against float64 on the raw X
// the rounding of X adds at most 2^-8 sum |w x|. Through GELU (slope at most
// 1.13) the bounds scale by 1.13 plus the two fp32 GELUs' own error (16 u
// |v|, generous for a few-ulp exp and one cancelling subtraction).
TEST_P(CpuKernelTest, GemmW4A16OnBf16ActivationsStaysWithinItsRoundingBounds) {
    if (std::get<0>(GetParam()) != SVDQ_CPU_AVX512_BF16)
        GTEST_SKIP() << "the avx512_bf16 level's W4A16 rounds X to BF16; the other levels read it as is";
    const int64_t m = shape().m, n = shape().n, k = shape().k;
    const int64_t groups = k / 64;
    const auto x = test::with_outlier_channels(test::gaussian(static_cast<size_t>(m * k), 31), k, 29, 25.0f);
    const auto xr = test::bf16_values(x);
    const auto bias = test::gaussian(static_cast<size_t>(n), 32);
    const Int4Matrix qw = quantize_int4(test::gaussian(static_cast<size_t>(n * k), 33).data(), n, k, pool_);
    auto zeros = test::gaussian(static_cast<size_t>(n * groups), 34, 0.5f);
    for (float& z : zeros) z = round_to_bf16(z);
    const double u = std::ldexp(1.0, -24), slope = 1.13;
    for (bool awq : {false, true})
        for (int32_t act : {SVDQ_ACTIVATION_NONE, SVDQ_ACTIVATION_GELU_TANH}) {
            SCOPED_TRACE(std::string(awq ? "AWQ zeros" : "symmetric") + (act ? ", GELU" : ""));
            const auto gemm = [&](const CpuKernels& kern, const std::vector<float>& input) {
                const PackedWeights pw = kern.pack_w4a16(qw, awq ? zeros.data() : nullptr);
                std::vector<float> y(static_cast<size_t>(m * n));
                run_gemm_w4a16(kern, pool_, {input.data(), m, &pw, y.data(), {bias.data(), act}}, prepared_);
                return y;
            };
            const std::vector<float> y = gemm(kernels(), x), ref = gemm(cpu_kernels_for(SVDQ_CPU_SCALAR), xr);
            for (int64_t i = 0; i < m; ++i)
                for (int64_t o = 0; o < n; ++o) {
                    const double b = bias[static_cast<size_t>(o)];
                    double exact = b, t_kernel = std::fabs(b), t_ref = std::fabs(b), t_x = 0.0;
                    for (int64_t g = 0; g < groups; ++g) {
                        const size_t at = static_cast<size_t>(o * groups + g);
                        const double s = qw.scales[at], z = awq ? zeros[at] : -8.0 * s;
                        double dot = 0.0, sum = 0.0;
                        for (int64_t j = g * 64; j < (g + 1) * 64; ++j) {
                            const double xv = x[static_cast<size_t>(i * k + j)], xh = xr[static_cast<size_t>(i * k + j)];
                            const int uq = int4_at(qw.row(o), j) + 8;
                            const double w = uq * s + z;
                            exact += w * xv;
                            t_ref += std::fabs(w * xh);
                            t_x += std::fabs(w * xv);
                            dot += uq * std::fabs(xh);
                            sum += std::fabs(xh);
                        }
                        t_kernel += std::fabs(s) * dot + std::fabs(z) * sum;
                    }
                    const double kernel_error = gamma32(64 + 2 * groups + 2) * t_kernel;
                    double order_bound = kernel_error + gamma32(k + 2) * t_ref;
                    double exact_bound = kernel_error + std::ldexp(1.0, -8) * t_x;
                    double want = exact;
                    if (act == SVDQ_ACTIVATION_GELU_TANH) {
                        const double v = std::fabs(exact) + exact_bound;
                        order_bound = slope * order_bound + 2 * 16 * u * v;
                        exact_bound = slope * exact_bound + 16 * u * v;
                        want = test::gelu_tanh_ref(exact);
                    }
                    const size_t at = static_cast<size_t>(i * n + o);
                    ASSERT_LE(std::fabs(y[at] - static_cast<double>(ref[at])), order_bound) << i << ", " << o;
                    ASSERT_LE(std::fabs(y[at] - want), exact_bound) << i << ", " << o;
                }
        }
}

namespace {

// Everything quantize_act writes for x [m, k], at one kernel level, with
// the down-projection (BF16 [rank, k] rows) in that level's layout.
struct ActOutputs {
    std::vector<int8_t> q;
    std::vector<float> scales, act;
    std::vector<int32_t> sums;
};

ActOutputs quantize_act_at(const CpuKernels& kern, ThreadPool& pool, const std::vector<float>& x, int64_t m, int64_t k,
                           const float* inv_smooth, const std::vector<uint16_t>& down, int64_t rank, ActEncoding encoding = {}) {
    const int64_t groups = k / 64;
    ActOutputs o{std::vector<int8_t>(static_cast<size_t>(m * k)), std::vector<float>(static_cast<size_t>(m * groups)),
                 std::vector<float>(static_cast<size_t>(m * rank)), std::vector<int32_t>(static_cast<size_t>(m * groups))};
    const std::vector<uint16_t> packed = pack_lowrank_down(kern, down, rank, k);
    EXPECT_EQ(unpack_lowrank_down(kern, packed, rank, k), down) << "the level's layout gives every value back";
    run_quantize_act(kern, pool,
                     {x.data(), m, k, inv_smooth, rank ? packed.data() : nullptr, rank, {o.q.data(), o.scales.data(), o.sums.data()},
                      rank ? o.act.data() : nullptr, encoding});
    return o;
}

}  // namespace

// Ranks: one vector of 16, a part-filled second one (20), and more than the
// 32 a pass of the k-major down-projection takes (48).
TEST_P(CpuKernelTest, QuantizeActMatchesTheReferenceBitForBit) {
    for (int64_t rank : {16, 20, 48}) {
        SCOPED_TRACE("rank " + std::to_string(rank));
        const int64_t m = shape().m, k = shape().k;
        const int64_t groups = k / 64;
        const auto x = test::with_outlier_channels(test::gaussian(static_cast<size_t>(m * k), 7), k, 29, 25.0f);
        const auto down = test::bf16_values(test::gaussian(static_cast<size_t>(rank * k), 8));
        const std::vector<uint16_t> down16 = to_bf16(down.data(), down.size());
        std::vector<float> inv_smooth(static_cast<size_t>(k));
        for (int64_t j = 0; j < k; ++j) inv_smooth[static_cast<size_t>(j)] = 0.25f + 0.01f * static_cast<float>(j % 97);
        const ActOutputs got = quantize_act_at(kernels(), pool_, x, m, k, inv_smooth.data(), down16, rank);
        const ActOutputs ref = quantize_act_at(cpu_kernels_for(SVDQ_CPU_SCALAR), pool_, x, m, k, inv_smooth.data(), down16, rank);
        EXPECT_EQ(got.q, ref.q);
        EXPECT_EQ(got.scales, ref.scales);
        EXPECT_EQ(got.sums, ref.sums);

        // The quantized part is the canonical INT4 quantization of X / lambda...
        std::vector<float> smoothed(static_cast<size_t>(k));
        std::vector<uint8_t> q_ref(static_cast<size_t>(k / 2));
        std::vector<float> s_ref(static_cast<size_t>(groups));
        for (int64_t i = 0; i < m; ++i) {
            for (int64_t j = 0; j < k; ++j) smoothed[static_cast<size_t>(j)] = x[static_cast<size_t>(i * k + j)] * inv_smooth[static_cast<size_t>(j)];
            quantize_int4_row(smoothed.data(), k, q_ref.data(), s_ref.data());
            for (int64_t j = 0; j < k; ++j) ASSERT_EQ(got.q[static_cast<size_t>(i * k + j)], int4_at(q_ref.data(), j)) << i << ", " << j;
            for (int64_t g = 0; g < groups; ++g) {
                // Activation scales stay fp32; weights keep theirs in BF16.
                ASSERT_EQ(round_to_bf16(got.scales[static_cast<size_t>(i * groups + g)]), s_ref[static_cast<size_t>(g)]);
                int32_t sum = 0;
                for (int64_t j = g * 64; j < (g + 1) * 64; ++j) sum += got.q[static_cast<size_t>(i * k + j)];
                ASSERT_EQ(got.sums[static_cast<size_t>(i * groups + g)], sum);
            }
        }
        // ...and the branch part is X * down^T.
        const auto act_ref = test::reference_matmul(x.data(), m, rank, k, [&](int64_t r, int64_t j) { return down[static_cast<size_t>(r * k + j)]; });
        EXPECT_LT(test::max_rel_error(got.act, act_ref), 1e-5);
    }
}

// Nunchaku's INT4 mlp_fc2 input: GELU outputs shifted by kGeluShift and
// quantized unsigned. Every level matches the scalar reference bit for bit;
// the reference is the definition u = (x + shift) * (1 / lambda),
// q = clamp(round_half_even(u * (15 / absmax)), 0, 15), scale = absmax / 15,
// lies within half a step of u in float64, and the branch reads the raw x.
TEST_P(CpuKernelTest, QuantizeActUnsignedShiftedMatchesTheDefinition) {
    const int64_t m = shape().m, k = shape().k;
    const int64_t groups = k / 64;
    const float shift = nunchaku::kGeluShift;
    const ActEncoding encoding{shift, true};
    // GELU outputs (>= -0.1701, so >= 0 once shifted) with outlier channels,
    // some values the shift leaves negative (clamped to 0), a group the shift
    // makes all zero (scale 0) and, where there is room, a group of exact
    // ties after the shift (15, 2.5, 3.5, 0.5, then 1).
    std::vector<float> x = test::with_outlier_channels(test::gaussian(static_cast<size_t>(m * k), 16), k, 29, 8.0f);
    for (float& v : x) v = static_cast<float>(test::gelu_tanh_ref(v));
    for (size_t i = 5; i < x.size(); i += 37) x[i] = -0.5f;
    std::fill(x.begin(), x.begin() + 64, -shift);
    const bool ties = m * groups >= 2;
    float* tie = x.data() + (m * k - 64);
    if (ties) {
        const float u[] = {15.0f, 2.5f, 3.5f, 0.5f};
        for (int i = 0; i < 64; ++i) tie[i] = (i < 4 ? u[i] : 1.0f) - shift;  // exact in float, and so is + shift
    }
    std::vector<float> inv_smooth(static_cast<size_t>(k));
    for (int64_t j = 0; j < k; ++j) inv_smooth[static_cast<size_t>(j)] = 0.25f + 0.01f * static_cast<float>(j % 97);

    for (int64_t rank : {0, 16, 32}) {
        for (bool smooth : {false, true}) {
            SCOPED_TRACE("rank " + std::to_string(rank) + (smooth ? ", smooth" : ", no smooth"));
            const auto down = test::bf16_values(test::gaussian(static_cast<size_t>(rank * k), 17));
            const std::vector<uint16_t> down16 = to_bf16(down.data(), down.size());
            const float* inv = smooth ? inv_smooth.data() : nullptr;
            const ActOutputs got = quantize_act_at(kernels(), pool_, x, m, k, inv, down16, rank, encoding);
            const ActOutputs ref = quantize_act_at(cpu_kernels_for(SVDQ_CPU_SCALAR), pool_, x, m, k, inv, down16, rank, encoding);
            ASSERT_EQ(got.q, ref.q);
            ASSERT_EQ(got.scales, ref.scales);
            ASSERT_EQ(got.sums, ref.sums);

            for (int64_t i = 0; i < m; ++i)
                for (int64_t g = 0; g < groups; ++g) {
                    float u[64], absmax = 0.0f;
                    for (int64_t t = 0; t < 64; ++t) {
                        const int64_t j = g * 64 + t;
                        u[t] = x[static_cast<size_t>(i * k + j)] + shift;
                        if (smooth) u[t] *= inv_smooth[static_cast<size_t>(j)];
                        absmax = std::max(absmax, std::fabs(u[t]));
                    }
                    const float step = absmax / 15.0f, mul = absmax > 0.0f ? 15.0f / absmax : 0.0f;
                    ASSERT_EQ(got.scales[static_cast<size_t>(i * groups + g)], step) << i << ", " << g;
                    int32_t sum = 0;
                    for (int64_t t = 0; t < 64; ++t) {
                        const int q = got.q[static_cast<size_t>(i * k + g * 64 + t)];
                        ASSERT_EQ(q, static_cast<int>(std::clamp(std::nearbyint(u[t] * mul), 0.0f, 15.0f))) << i << ", " << g * 64 + t;
                        // Independent of the rounding code: 0 for u <= 0, else within half a
                        // step (plus the float rounding of u * (15 / absmax), < 1e-5 step).
                        if (u[t] <= 0.0f)
                            ASSERT_EQ(q, 0);
                        else
                            ASSERT_LE(std::fabs(q * static_cast<double>(step) - u[t]), (0.5 + 1e-5) * step);
                        sum += q;
                    }
                    ASSERT_EQ(got.sums[static_cast<size_t>(i * groups + g)], sum);
                }
            EXPECT_EQ(got.scales[0], 0.0f);  // the group the shift zeroes
            if (ties && !smooth) {
                const int8_t* q = got.q.data() + (m * k - 64);
                EXPECT_EQ(std::vector<int>(q, q + 5), (std::vector<int>{15, 2, 4, 0, 1}));  // half to even
            }
            if (rank > 0) {
                const auto act_ref =
                    test::reference_matmul(x.data(), m, rank, k, [&](int64_t r, int64_t j) { return down[static_cast<size_t>(r * k + j)]; });
                EXPECT_LT(test::max_rel_error(got.act, act_ref), 1e-5);
            }
        }
    }
}

namespace {

// Activations quantized by the scalar reference, the input of every GEMM test.
struct Acts {
    std::vector<int8_t> q;
    std::vector<float> scales;
    std::vector<int32_t> sums;
    float value(int64_t i, int64_t j, int64_t k) const {
        return static_cast<float>(q[static_cast<size_t>(i * k + j)]) * scales[static_cast<size_t>(i * (k / 64) + j / 64)];
    }
};

Acts quantize_acts(const std::vector<float>& x, int64_t m, int64_t k, ThreadPool& pool) {
    Acts a{std::vector<int8_t>(static_cast<size_t>(m * k)), std::vector<float>(static_cast<size_t>(m * k / 64)),
           std::vector<int32_t>(static_cast<size_t>(m * k / 64))};
    run_quantize_act(cpu_kernels_for(SVDQ_CPU_SCALAR), pool, {x.data(), m, k, nullptr, nullptr, 0, {a.q.data(), a.scales.data(), a.sums.data()}, nullptr});
    return a;
}

}  // namespace

TEST_P(CpuKernelTest, GemmW4A4WithBranchMatchesFloat64OnDequantizedOperands) {
    const int64_t m = shape().m, n = shape().n, k = shape().k;
    const int64_t rank = 32;
    const auto x = test::gaussian(static_cast<size_t>(m * k), 9);
    const auto w = test::gaussian(static_cast<size_t>(n * k), 10);
    const auto act = test::gaussian(static_cast<size_t>(m * rank), 11);
    const auto up = test::bf16_values(test::gaussian(static_cast<size_t>(n * rank), 12));
    const auto bias = test::gaussian(static_cast<size_t>(n), 13);
    const Acts qx = quantize_acts(x, m, k, pool_);
    const Int4Matrix qw = quantize_int4(w.data(), n, k, pool_);
    const PackedWeights pw = kernels().pack_w4a4(qw);
    const PackedWeights pup = pack_lowrank_up(kernels(), up.data(), n, rank);
    EXPECT_EQ(unpack_lowrank_up(kernels(), pup, n, rank), up) << "the level's layout gives every (BF16) value back";
    std::vector<float> y(static_cast<size_t>(m * n));
    for (int32_t activation : {SVDQ_ACTIVATION_NONE, SVDQ_ACTIVATION_GELU_TANH}) {
        for (bool branch : {false, true}) {
            run_gemm_w4a4(kernels(), pool_,
                          {qx.q.data(), qx.scales.data(), qx.sums.data(), m, &pw, branch ? act.data() : nullptr,
                           branch ? &pup : nullptr, branch ? rank : 0, y.data(), {bias.data(), activation}});
            std::vector<double> ref(static_cast<size_t>(m * n));
            for (int64_t i = 0; i < m; ++i)
                for (int64_t o = 0; o < n; ++o) {
                    double acc = bias[static_cast<size_t>(o)];
                    for (int64_t j = 0; j < k; ++j) acc += static_cast<double>(qx.value(i, j, k)) * qw.value(o, j);
                    if (branch)
                        for (int64_t r = 0; r < rank; ++r)
                            acc += static_cast<double>(act[static_cast<size_t>(i * rank + r)]) * up[static_cast<size_t>(o * rank + r)];
                    ref[static_cast<size_t>(i * n + o)] = activation ? test::gelu_tanh_ref(acc) : acc;
                }
            EXPECT_LT(test::max_rel_error(y, ref), 1e-5) << "branch " << branch << " activation " << activation;
        }
    }
}

// With every scale exactly 1 (each group holds a +-7) the float result is
// the integer sum itself, so the int32 group sums must be exact.
TEST_P(CpuKernelTest, GemmW4A4IntegerSumsAreExact) {
    const int64_t m = shape().m, n = shape().n, k = shape().k;
    auto integers = [&](int64_t rows, uint64_t seed) {
        std::vector<float> v(static_cast<size_t>(rows * k));
        std::mt19937_64 rng(seed);
        for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(static_cast<int>(rng() % 15) - 7);
        for (size_t i = 0; i < v.size(); i += 64) v[i + rng() % 64] = (rng() & 1) ? 7.0f : -7.0f;
        return v;
    };
    const auto x = integers(m, 14), w = integers(n, 15);
    const Acts qx = quantize_acts(x, m, k, pool_);
    const PackedWeights pw = kernels().pack_w4a4(quantize_int4(w.data(), n, k, pool_));
    std::vector<float> y(static_cast<size_t>(m * n));
    run_gemm_w4a4(kernels(), pool_, {qx.q.data(), qx.scales.data(), qx.sums.data(), m, &pw, nullptr, nullptr, 0, y.data(), {}});
    for (int64_t i = 0; i < m; ++i)
        for (int64_t o = 0; o < n; ++o) {
            int64_t dot = 0;
            for (int64_t j = 0; j < k; ++j)
                dot += static_cast<int64_t>(x[static_cast<size_t>(i * k + j)]) * static_cast<int64_t>(w[static_cast<size_t>(o * k + j)]);
            ASSERT_EQ(y[static_cast<size_t>(i * n + o)], static_cast<float>(dot)) << i << ", " << o;
        }
}

// Unsigned activations (0..15) against weights -8..7, every scale 1, so the
// float result is the integer sum. Rows of all 15 against rows of all 7 and
// all -8 fill vpmaddubsw's int16 lanes the most (16 pairs of 15 * 15 = 7200);
// |sum| <= k * 120 < 2^24 keeps the float accumulation across groups exact.
TEST_P(CpuKernelTest, GemmW4A4UnsignedActivationsGiveExactIntegerSums) {
    const int64_t m = shape().m, n = shape().n, k = shape().k;
    const int64_t groups = k / 64;
    std::mt19937_64 rng(18);
    Acts qx{std::vector<int8_t>(static_cast<size_t>(m * k)), std::vector<float>(static_cast<size_t>(m * groups), 1.0f),
            std::vector<int32_t>(static_cast<size_t>(m * groups), 0)};
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < k; ++j) {
            const int8_t q = static_cast<int8_t>(i % 3 == 0 ? 15 : static_cast<int>(rng() % 16));
            qx.q[static_cast<size_t>(i * k + j)] = q;
            qx.sums[static_cast<size_t>(i * groups + j / 64)] += q;
        }
    Int4Matrix w;
    w.rows = n;
    w.cols = k;
    w.packed.assign(static_cast<size_t>(n * k / 2), 0);
    w.scales.assign(static_cast<size_t>(n * groups), 1.0f);
    for (int64_t o = 0; o < n; ++o)
        for (int64_t j = 0; j < k; ++j) {
            const int v = o % 3 == 0 ? 7 : o % 3 == 1 ? -8 : static_cast<int>(rng() % 16) - 8;
            w.packed[static_cast<size_t>((o * k + j) / 2)] |= static_cast<uint8_t>((v & 0xF) << ((j & 1) * 4));
        }
    const PackedWeights pw = kernels().pack_w4a4(w);
    std::vector<float> y(static_cast<size_t>(m * n));
    run_gemm_w4a4(kernels(), pool_, {qx.q.data(), qx.scales.data(), qx.sums.data(), m, &pw, nullptr, nullptr, 0, y.data(), {}});
    for (int64_t i = 0; i < m; ++i)
        for (int64_t o = 0; o < n; ++o) {
            int64_t dot = 0;
            for (int64_t j = 0; j < k; ++j) dot += qx.q[static_cast<size_t>(i * k + j)] * int4_at(w.row(o), j);
            ASSERT_EQ(y[static_cast<size_t>(i * n + o)], static_cast<float>(dot)) << i << ", " << o;
        }
}

// The AVX-512 kernels do the AVX2 kernels' float operations lane for lane
// (W4A4 forms its exact integer group sums differently; the float GEMMs run
// a wider register tile over the same K blocks), so the two levels give the
// same bits, partial sums across K blocks, branch, bias and GELU included.
// At avx512_bf16 all but W4A16 (X rounded to BF16, tested above).
TEST_P(CpuKernelTest, Avx512KernelsEqualAvx2BitForBit) {
    const svdq_cpu_level level = std::get<0>(GetParam());
    if (level < SVDQ_CPU_AVX512_VNNI) GTEST_SKIP() << "compares the AVX-512 levels with avx2";
    const int64_t m = shape().m, n = shape().n, k = shape().k, rank = 32;
    const auto x = test::gaussian(static_cast<size_t>(m * k), 21);
    const auto w = test::gaussian(static_cast<size_t>(n * k), 22);
    const auto act = test::gaussian(static_cast<size_t>(m * rank), 23);
    const auto up = test::gaussian(static_cast<size_t>(n * rank), 24);
    const auto bias = test::gaussian(static_cast<size_t>(n), 25);
    const auto zeros = test::gaussian(static_cast<size_t>(n * k / 64), 26);
    const Acts qx = quantize_acts(x, m, k, pool_);
    const Int4Matrix qw = quantize_int4(w.data(), n, k, pool_);
    const svdq_cpu_level levels[2] = {SVDQ_CPU_AVX2, level};
    const auto run = [&](const char* op, int level) {
        const CpuKernels& kern = cpu_kernels_for(levels[level]);
        std::vector<float> y(static_cast<size_t>(m * n));
        const std::string name = op;
        if (name == "w4a4") {
            const PackedWeights pw = kern.pack_w4a4(qw), pup = pack_lowrank_up(kern, up.data(), n, rank);
            run_gemm_w4a4(kern, pool_, {qx.q.data(), qx.scales.data(), qx.sums.data(), m, &pw, act.data(), &pup, rank,
                                        y.data(), {bias.data(), SVDQ_ACTIVATION_GELU_TANH}});
        } else if (name == "f32" || name == "bf16") {
            const PackedWeights pw = name == "f32" ? kern.pack_f32(w.data(), n, k) : kern.pack_bf16(w.data(), n, k);
            (name == "f32" ? run_gemm_f32 : run_gemm_bf16)(kern, pool_, {x.data(), m, &pw, y.data(), {bias.data(), SVDQ_ACTIVATION_GELU_TANH}});
        } else {
            const PackedWeights pw = kern.pack_w4a16(qw, name == "w4a16 awq" ? zeros.data() : nullptr);
            run_gemm_w4a16(kern, pool_, {x.data(), m, &pw, y.data(), {bias.data(), SVDQ_ACTIVATION_GELU_TANH}}, prepared_);
        }
        return y;
    };
    for (const char* op : {"w4a4", "f32", "bf16", "w4a16", "w4a16 awq"}) {
        if (level == SVDQ_CPU_AVX512_VNNI || std::string(op).rfind("w4a16", 0) != 0) {
            EXPECT_EQ(run(op, 1), run(op, 0)) << op;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(AllLevelsAndShapes, CpuKernelTest,
                         testing::Combine(testing::ValuesIn(test::all_levels()), testing::Range(0, static_cast<int>(std::size(kShapes)))),
                         [](const auto& info) {
                             const Shape s = kShapes[std::get<1>(info.param)];
                             return std::string(cpu_level_name(std::get<0>(info.param))) + "_m" + std::to_string(s.m) + "_n" +
                                    std::to_string(s.n) + "_k" + std::to_string(s.k);
                         });

}  // namespace svdq
