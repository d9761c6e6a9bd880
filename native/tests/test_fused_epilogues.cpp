// The CPU backend's fused epilogues against the unfused ops they replace, at
// every kernel level: the gated residual add in the output projection's
// store (Backend::linear_gated, mlp_gated) must give the bits of linear (or
// mlp), add and gated_add, and the QKV GEMM's q/k RMS norm and RoPE
// (linear_qk_norm_rope) those of linear, rms_norm_heads and rope, since each
// runs the same float operations.
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "backend/context.h"
#include "cpu_levels.h"
#include "linear_cases.h"
#include "nn/linear.h"
#include "test_util.h"

namespace svdq {

namespace {

// K crosses the W4A4 kernels' 1024-wide K blocks and the float ones' 512
// (partial sums between blocks); N crosses the 256-column tiles and ends in
// a ragged panel; M is ragged for every register tile.
constexpr int64_t M = 37, N = 264, K = 1280, Rank = 32;

// What linear_gated writes into: a residual stream with a row stride wider
// than the layer (a column range), its gate and an addend.
struct Stream {
    std::vector<float> residual, gate, addend;
    static constexpr int64_t kStride = N + 8;

    explicit Stream(uint64_t seed)
        : residual(test::gaussian(static_cast<size_t>(M * kStride), seed)),
          gate(test::gaussian(static_cast<size_t>(N), seed + 1)),
          addend(test::gaussian(static_cast<size_t>(M * N), seed + 2)) {}

    TensorView residual_view() { return TensorView{residual.data(), M, N, kStride, Memory::host}; }
    TensorView gate_view() { return TensorView::host(gate.data(), 1, N); }
    TensorView addend_view(bool with) { return with ? TensorView::host(addend.data(), M, N) : TensorView{}; }
};

class FusedEpilogueTest : public testing::TestWithParam<std::tuple<svdq_cpu_level, test::LinearCase>> {
protected:
    svdq_cpu_level level() const { return std::get<0>(GetParam()); }
    const test::LinearCase& layer_case() const { return std::get<1>(GetParam()); }

    Linear make_layer(Context& ctx, int64_t n, int64_t k) const {
        Linear layer(ctx, test::case_weights(layer_case(), n, k, Rank, false));
        const auto updates = test::case_updates(layer_case(), n, k);
        if (!updates.empty()) layer.set_low_rank_updates(ctx, updates);
        return layer;
    }

    // The unfused path: y = layer(x) (or the pair's), then y += addend (as
    // FLUX's single block adds fc2's output to out's), then residual += gate * y.
    static void unfused(Context& ctx, const TensorView& y, Stream& s, bool with_addend) {
        if (with_addend) ctx.backend().add(y, s.addend_view(true));
        ctx.backend().gated_add(s.residual_view(), y, s.gate_view());
    }
};

TEST_P(FusedEpilogueTest, LinearGatedEqualsLinearThenGatedAddBitForBit) {
    SVDQ_REQUIRE_LEVEL(level());
    Context ctx(test::level_options(level()));
    const Linear layer = make_layer(ctx, N, K);
    const std::vector<float> x = test::gaussian(static_cast<size_t>(M * K), 11);
    const TensorView xv = TensorView::host(x.data(), M, K);
    for (bool with_addend : {false, true}) {
        Stream fused(21), expected(21);
        std::vector<float> y(static_cast<size_t>(M * N)), scratch(static_cast<size_t>(M * N));
        layer.forward(ctx, xv, TensorView::host(y.data(), M, N));
        unfused(ctx, TensorView::host(y.data(), M, N), expected, with_addend);
        layer.forward_gated(ctx, xv,
                            {fused.residual_view(), fused.gate_view(), fused.addend_view(with_addend), TensorView::host(scratch.data(), M, N)});
        EXPECT_EQ(fused.residual, expected.residual) << "addend " << with_addend;
    }
}

TEST_P(FusedEpilogueTest, MlpGatedEqualsMlpThenGatedAddBitForBit) {
    SVDQ_REQUIRE_LEVEL(level());
    Context ctx(test::level_options(level()));
    constexpr int64_t Hidden = 4 * 64 * 5;  // 1280: fc2's K crosses a K block
    test::LinearCase first_case = layer_case();
    first_case.gelu = true;
    const Linear first(ctx, test::case_weights(first_case, Hidden, 256, Rank, false));
    const Linear second = make_layer(ctx, N, Hidden);
    const std::vector<float> x = test::gaussian(static_cast<size_t>(M * 256), 12);
    const TensorView xv = TensorView::host(x.data(), M, 256);
    for (bool with_addend : {false, true}) {
        Stream fused(31), expected(31);
        std::vector<float> hidden(static_cast<size_t>(M * Hidden)), y(static_cast<size_t>(M * N)), scratch(static_cast<size_t>(M * N));
        const TensorView hv = TensorView::host(hidden.data(), M, Hidden);
        Linear::forward_pair(ctx, first, second, xv, hv, TensorView::host(y.data(), M, N));
        unfused(ctx, TensorView::host(y.data(), M, N), expected, with_addend);
        Linear::forward_pair_gated(ctx, first, second, xv, hv,
                                   {fused.residual_view(), fused.gate_view(), fused.addend_view(with_addend),
                                    TensorView::host(scratch.data(), M, N)});
        EXPECT_EQ(fused.residual, expected.residual) << "addend " << with_addend;
    }
}

TEST_P(FusedEpilogueTest, QkvNormRopeEqualsLinearThenNormAndRopeBitForBit) {
    SVDQ_REQUIRE_LEVEL(level());
    Context ctx(test::level_options(level()));
    constexpr int64_t HeadDim = 128, D = 2 * HeadDim;  // the scalar level's 64-column tiles widen to whole heads
    const Linear layer = make_layer(ctx, 3 * D, K);
    const std::vector<float> x = test::gaussian(static_cast<size_t>(M * K), 13);
    const std::vector<float> q_weight = test::gaussian(HeadDim, 14), k_weight = test::gaussian(HeadDim, 15);
    // RoPE tables with a wider row stride, as row ranges of FLUX's joint table are.
    std::vector<float> cos = test::gaussian(static_cast<size_t>(M * (HeadDim + 4)), 16), sin = test::gaussian(cos.size(), 17);
    const QkNormRope n{TensorView::host(q_weight.data(), 1, HeadDim), TensorView::host(k_weight.data(), 1, HeadDim), 1e-6f,
                       TensorView{cos.data(), M, HeadDim, HeadDim + 4, Memory::host},
                       TensorView{sin.data(), M, HeadDim, HeadDim + 4, Memory::host}};
    const TensorView xv = TensorView::host(x.data(), M, K);
    std::vector<float> expected(static_cast<size_t>(M * 3 * D)), fused(expected.size());
    const TensorView ev = TensorView::host(expected.data(), M, 3 * D);
    layer.forward(ctx, xv, ev);
    for (int64_t part = 0; part < 2; ++part) {
        ctx.backend().rms_norm_heads(ev.column_range(part * D, D), part == 0 ? n.q_weight : n.k_weight, n.eps);
        ctx.backend().rope(ev.column_range(part * D, D), n.cos, n.sin);
    }
    layer.forward_qk_norm_rope(ctx, xv, TensorView::host(fused.data(), M, 3 * D), n);
    EXPECT_EQ(fused, expected);
}

INSTANTIATE_TEST_SUITE_P(AllLevelsAndLayers, FusedEpilogueTest,
                         testing::Combine(testing::ValuesIn(test::all_levels()), testing::ValuesIn(test::kEveryLinearCase)),
                         [](const auto& info) {
                             return std::string(cpu_level_name(std::get<0>(info.param))) + "_" + std::get<1>(info.param).name;
                         });

}  // namespace

}  // namespace svdq
