// The CPU backend's fused MLP (CpuBackend::mlp): fc1's GEMM quantizes its
// output tiles for fc2 (QuantizeStage) and fc2 runs only its GEMM. Against
// linear(fc1) then linear(fc2) at every kernel level: fc2's quantized input
// (q, scales, group sums) must be the same bits, since each tile runs the
// level's quantize_act on its columns; fc2's down-projection is summed per
// column tile and then over tiles, another order than quantize_act's, so it
// and the output may differ by the rounding of a reordered sum, bounded
// below; and the result must not depend on the thread count.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "backend/context.h"
#include "backend/cpu/cpu_backend.h"
#include "cpu_levels.h"
#include "expect_error.h"
#include "formats/nunchaku_flux_layout.h"
#include "linear_cases.h"
#include "nn/linear.h"
#include "test_util.h"

namespace svdq {

namespace {

// M is ragged for every register tile; fc1's 1280 columns span several
// column tiles at every level (so several partial slots) and fc2's K crosses
// a 1024-wide K block.
constexpr int64_t M = 37, In = 256, Hidden = 1280, N = 264, Rank = 32;

struct Fc2Case {
    const char* name;
    bool unsigned_shifted, smooth, lora;
};

// gtest names a parameter by this instead of its bytes.
void PrintTo(const Fc2Case& c, std::ostream* os) { *os << c.name; }

const Fc2Case kFc2Cases[] = {
    {"signed", false, false, false},
    {"signed_smooth", false, true, false},
    {"unsigned_shifted_smooth", true, true, false},
    {"unsigned_shifted_lora", true, true, true},
    {"signed_lora", false, false, true},
};

LinearWeights fc1_weights() {
    test::LinearCase c{"fc1", SVDQ_SCHEME_W4A4, false, true, true, false, true, false};
    return test::case_weights(c, Hidden, In, Rank, false);
}

LinearWeights fc2_weights(const Fc2Case& c) {
    test::LinearCase lc{"fc2", SVDQ_SCHEME_W4A4, false, c.smooth, true, false, false, c.lora};
    LinearWeights w = test::case_weights(lc, N, Hidden, Rank, false);
    if (c.unsigned_shifted) {  // Nunchaku's mlp_fc2
        w.input_shift = nunchaku::kGeluShift;
        w.unsigned_input = true;
    }
    return w;
}

std::vector<LowRankUpdate> fc2_updates(const Fc2Case& c) {
    test::LinearCase lc{"fc2", SVDQ_SCHEME_W4A4, false, c.smooth, true, false, false, c.lora};
    return test::case_updates(lc, N, Hidden);
}

// fc2's quantized input and down-projection as a run left them in the scratch.
struct Handover {
    std::vector<int8_t> q;
    std::vector<float> scales;
    std::vector<int32_t> sums;
    std::vector<float> lowrank;
};

struct MlpRun {
    std::vector<float> hidden, y;
    Handover fused;
};

MlpRun run_fused(svdq_cpu_level level, int threads, const Fc2Case& c, const std::vector<float>& x) {
    svdq_context_options o = test::level_options(level);
    o.num_threads = threads;
    Context ctx(o);
    const Linear fc1(ctx, fc1_weights());
    Linear fc2(ctx, fc2_weights(c));
    if (c.lora) fc2.set_low_rank_updates(ctx, fc2_updates(c));
    MlpRun r{std::vector<float>(static_cast<size_t>(M * Hidden)), std::vector<float>(static_cast<size_t>(M * N)), {}};
    Linear::forward_pair(ctx, fc1, fc2, TensorView::host(x.data(), M, In), TensorView::host(r.hidden.data(), M, Hidden),
                         TensorView::host(r.y.data(), M, N));
    const CpuScratch& s = dynamic_cast<CpuBackend&>(ctx.backend()).scratch();
    r.fused = {s.hidden_q, s.hidden_scales, s.hidden_sums, s.hidden_lowrank};
    return r;
}

class FusedMlpTest : public testing::TestWithParam<std::tuple<svdq_cpu_level, Fc2Case>> {
protected:
    svdq_cpu_level level() const { return std::get<0>(GetParam()); }
    const Fc2Case& fc2_case() const { return std::get<1>(GetParam()); }
};

TEST_P(FusedMlpTest, HandsFc2TheQuantizationOfLinearFc1) {
    SVDQ_REQUIRE_LEVEL(level());
    const Fc2Case& c = fc2_case();
    const std::vector<float> x = test::gaussian(static_cast<size_t>(M * In), 41);
    const MlpRun fused = run_fused(level(), 2, c, x);
    ASSERT_EQ(fused.fused.q.size(), static_cast<size_t>(M * Hidden)) << "the fused path did not run";

    // The unfused path, and what fc2's quantize_act left in the scratch.
    Context ctx(test::level_options(level()));
    const Linear fc1(ctx, fc1_weights());
    Linear fc2(ctx, fc2_weights(c));
    if (c.lora) fc2.set_low_rank_updates(ctx, fc2_updates(c));
    std::vector<float> hidden(static_cast<size_t>(M * Hidden)), y(static_cast<size_t>(M * N));
    fc1.forward(ctx, TensorView::host(x.data(), M, In), TensorView::host(hidden.data(), M, Hidden));
    fc2.forward(ctx, TensorView::host(hidden.data(), M, Hidden), TensorView::host(y.data(), M, N));
    const CpuScratch& s = dynamic_cast<CpuBackend&>(ctx.backend()).scratch();

    EXPECT_EQ(fused.hidden, hidden);
    EXPECT_EQ(fused.fused.q, s.act_q);
    EXPECT_EQ(fused.fused.scales, s.act_scales);
    EXPECT_EQ(fused.fused.sums, s.act_sums);

    // Both sum the same products h_j * down'_rj in two orders, so each is
    // within gamma_K * sum_j |h_j down'_rj| of the exact sum (gamma_K ~ K * eps):
    // bounded with the largest |down'| (down / lambda in BF16, the updates' down).
    const LinearWeights w2 = fc2_weights(c);
    float down_max = 0.0f, up_max = 0.0f;
    for (int64_t r = 0; r < Rank; ++r)
        for (int64_t j = 0; j < Hidden; ++j)
            down_max = std::max(down_max, std::fabs(w2.down[static_cast<size_t>(r * Hidden + j)] / (c.smooth ? w2.smooth[static_cast<size_t>(j)] : 1.0f)));
    for (float u : w2.up) up_max = std::max(up_max, std::fabs(u));
    int64_t rank = Rank;
    for (const LowRankUpdate& u : fc2_updates(c)) {
        for (float d : u.down) down_max = std::max(down_max, std::fabs(d));
        for (float v : u.up) up_max = std::max(up_max, std::fabs(u.scale * v));
        rank += u.rank;
    }
    down_max *= 1.01f;  // BF16 rounding
    up_max *= 1.01f;
    const int64_t branch_rank = static_cast<int64_t>(s.lowrank_act.size()) / M;
    ASSERT_EQ(fused.fused.lowrank.size(), s.lowrank_act.size());
    ASSERT_GE(branch_rank, rank);
    for (int64_t i = 0; i < M; ++i) {
        double h_abs = 0.0;
        for (int64_t j = 0; j < Hidden; ++j) h_abs += std::fabs(hidden[static_cast<size_t>(i * Hidden + j)]);
        const double lowrank_tol = 2.0 * Hidden * FLT_EPSILON * down_max * h_abs;
        for (int64_t r = 0; r < branch_rank; ++r) {
            const size_t at = static_cast<size_t>(i * branch_rank + r);
            EXPECT_NEAR(fused.fused.lowrank[at], s.lowrank_act[at], lowrank_tol) << "row " << i << ", rank " << r;
        }
        // The output moves by at most up * the down-projection's difference.
        const double y_tol = static_cast<double>(rank) * up_max * lowrank_tol * 1.01;
        for (int64_t j = 0; j < N; ++j) {
            const size_t at = static_cast<size_t>(i * N + j);
            EXPECT_NEAR(fused.y[at], y[at], y_tol + 1e-6 * std::fabs(y[at])) << "row " << i << ", column " << j;
        }
    }
}

TEST_P(FusedMlpTest, GivesTheSameBitsOnOneTwoAndThreeThreads) {
    SVDQ_REQUIRE_LEVEL(level());
    const std::vector<float> x = test::gaussian(static_cast<size_t>(M * In), 42);
    const MlpRun one = run_fused(level(), 1, fc2_case(), x);
    for (int threads : {2, 3}) {
        const MlpRun other = run_fused(level(), threads, fc2_case(), x);
        EXPECT_EQ(other.y, one.y) << threads << " threads";
        EXPECT_EQ(other.fused.lowrank, one.fused.lowrank) << threads << " threads";
        EXPECT_EQ(other.fused.q, one.fused.q) << threads << " threads";
    }
}

// fc1 with positive weights and no branch: a row of x at -3e38 overflows
// every output of that row to -Inf, which GELU turns into NaN, so
// the row holds NaN and no Inf and its group scales can stay finite. The
// fused path must refuse it as fc2's own forward would, branch or not.
class FusedMlpNonFiniteTest : public testing::TestWithParam<svdq_cpu_level> {};

TEST_P(FusedMlpNonFiniteTest, RefusesANanHiddenRow) {
    SVDQ_REQUIRE_LEVEL(GetParam());
    constexpr int64_t BadRow = 5;
    const test::LinearCase gelu_only{"fc1", SVDQ_SCHEME_W4A4, false, false, false, false, true, false};
    LinearWeights w1 = test::case_weights(gelu_only, Hidden, In, Rank, false);
    for (float& v : w1.weight) v = 0.01f + std::fabs(v);
    std::vector<float> x = test::gaussian(static_cast<size_t>(M * In), 44);
    std::fill(x.begin() + BadRow * In, x.begin() + (BadRow + 1) * In, -3e38f);

    Context ctx(test::level_options(GetParam()));
    const Linear fc1(ctx, w1);
    std::vector<float> hidden(static_cast<size_t>(M * Hidden)), y(static_cast<size_t>(M * N));
    fc1.forward(ctx, TensorView::host(x.data(), M, In), TensorView::host(hidden.data(), M, Hidden));
    ASSERT_TRUE(std::isnan(hidden[static_cast<size_t>(BadRow * Hidden)])) << "the case no longer makes a NaN hidden row";
    ASSERT_TRUE(std::isfinite(hidden[0]));

    for (bool branch : {false, true}) {
        LinearWeights w2 = fc2_weights(kFc2Cases[0]);
        if (!branch) {
            w2.rank = 0;
            w2.up.clear();
            w2.down.clear();
        }
        const Linear fc2(ctx, w2);
        test::expect_error(SVDQ_ERROR_NON_FINITE, "row 5, column 0", [&] {
            Linear::forward_pair(ctx, fc1, fc2, TensorView::host(x.data(), M, In), TensorView::host(hidden.data(), M, Hidden),
                                 TensorView::host(y.data(), M, N));
        });
    }
}

INSTANTIATE_TEST_SUITE_P(AllLevels, FusedMlpNonFiniteTest, testing::ValuesIn(test::all_levels()),
                         [](const auto& info) { return std::string(cpu_level_name(info.param)); });

INSTANTIATE_TEST_SUITE_P(AllLevels, FusedMlpTest,
                         testing::Combine(testing::ValuesIn(test::all_levels()), testing::ValuesIn(kFc2Cases)),
                         [](const auto& info) {
                             return std::string(cpu_level_name(std::get<0>(info.param))) + "_" + std::get<1>(info.param).name;
                         });

}  // namespace

}  // namespace svdq
