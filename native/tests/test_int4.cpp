#include <gtest/gtest.h>

#include <cmath>

#include "core/thread_pool.h"
#include "core/numerics/fake_quant.h"
#include "core/numerics/int4.h"
#include "quant_reference.h"
#include "test_util.h"

namespace svdq {

TEST(Int4, PacksLowNibbleFirstAndScalesByAbsmaxOver7) {
    std::vector<float> x(64, 0.0f);
    x[0] = 7.0f;   // absmax -> +7
    x[1] = -7.0f;  // -> -7
    x[2] = 1.4f;   // 1.4 -> 1
    x[3] = -3.5f;  // -3.5 -> -4 (round half to even)
    x[4] = 2.5f;   // -> 2 (half to even)
    std::vector<uint8_t> q(32);
    float scale = -1.0f;
    quantize_int4_row(x.data(), 64, q.data(), &scale);
    EXPECT_FLOAT_EQ(scale, 1.0f);
    EXPECT_EQ(q[0], 0x97);  // lo = 7, hi = -7 = 0x9
    EXPECT_EQ(int4_at(q.data(), 0), 7);
    EXPECT_EQ(int4_at(q.data(), 1), -7);
    EXPECT_EQ(int4_at(q.data(), 2), 1);
    EXPECT_EQ(int4_at(q.data(), 3), -4);
    EXPECT_EQ(int4_at(q.data(), 4), 2);
    for (int k = 5; k < 64; ++k) EXPECT_EQ(int4_at(q.data(), k), 0);
}

TEST(Int4, ZeroGroupGetsZeroScaleAndZeroValues) {
    std::vector<float> x(128, 0.0f);
    x[64] = -3.0f;
    std::vector<uint8_t> q(64, 0xFF);
    float scales[2];
    quantize_int4_row(x.data(), 128, q.data(), scales);
    EXPECT_EQ(scales[0], 0.0f);
    for (int k = 0; k < 64; ++k) EXPECT_EQ(int4_at(q.data(), k), 0);
    EXPECT_EQ(scales[1], round_to_bf16(3.0f / 7.0f));
    EXPECT_EQ(int4_at(q.data(), 64), -7);
}

TEST(Int4, RoundTripErrorIsAtMostHalfAStep) {
    ThreadPool pool(2);
    const int64_t rows = 5, cols = 3072;
    const std::vector<float> x = test::gaussian(static_cast<size_t>(rows * cols), 7);
    const Int4Matrix m = quantize_int4(x.data(), rows, cols, pool);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
            const float scale = m.row_scales(r)[c / kInt4Group];
            // Half a step, plus |q| <= 8 times the scale's BF16 rounding (2^-9 relative).
            EXPECT_LE(std::fabs(m.value(r, c) - x[static_cast<size_t>(r * cols + c)]), 0.5f * scale + 8.0f * scale / 512.0f)
                << "at " << r << ", " << c;
        }
}

// The quantizer scores candidates with fake_quantize_rows: it must give the
// dequantized values of quantize_int4 exactly, ties and zero groups included,
// and both the canonical definition (ref::int4_weights) bit for bit.
TEST(Int4, FakeQuantizationIsTheDequantizedInt4Matrix) {
    ThreadPool pool(2);
    const int64_t rows = 3, cols = 3072;
    std::vector<float> x = test::gaussian(static_cast<size_t>(rows * cols), 8);
    std::fill(x.begin() + 64, x.begin() + 128, 0.0f);  // a zero group
    // absmax 3.5, so x * 7 / absmax = 2x: every +-0.25 * odd value lands on a tie of round-half-even.
    for (int i = 0; i < 64; ++i) x[static_cast<size_t>(128 + i)] = 0.25f * static_cast<float>(2 * (i % 8) - 7);
    x[128] = 3.5f;
    const Int4Matrix m = quantize_int4(x.data(), rows, cols, pool);
    std::vector<float> fake(x.size());
    fake_quantize_rows(SVDQ_FORMAT_INT4, x.data(), rows, cols, false, fake.data(), &pool);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(fake[static_cast<size_t>(r * cols + c)], m.value(r, c)) << r << ", " << c;
    const std::vector<double> canonical = ref::int4_weights(x.data(), rows, cols);
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(fake[i], canonical[i]) << "at " << i;
    std::vector<float> in_place = x;
    fake_quantize_rows(SVDQ_FORMAT_INT4, in_place.data(), rows, cols, false, in_place.data(), nullptr);
    EXPECT_EQ(in_place, fake);
}

}  // namespace svdq
