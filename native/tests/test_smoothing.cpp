#include <gtest/gtest.h>

#include <cmath>

#include "core/thread_pool.h"
#include "quant/smoothing.h"

namespace svdq {

TEST(Smoothing, FollowsTheFormulaPerChannel) {
    ThreadPool pool(2);
    // x: 2 x 3, w: 2 x 3.
    const float x[] = {1.0f, -8.0f, 0.0f, -4.0f, 2.0f, 0.0f};
    const float w[] = {0.5f, 0.25f, 1.0f, -2.0f, 0.1f, 3.0f};
    const auto lambda = compute_smoothing(x, 2, w, 2, 3, 0.5f, 0.5f, pool);
    ASSERT_EQ(lambda.size(), 3u);
    EXPECT_NEAR(lambda[0], std::sqrt(4.0f) / std::sqrt(2.0f), 1e-6);
    EXPECT_NEAR(lambda[1], std::sqrt(8.0f) / std::sqrt(0.25f), 1e-6);
    EXPECT_EQ(lambda[2], 1.0f);  // channel never active: nothing to migrate
}

TEST(Smoothing, AlphaOneBetaZeroIsTheActivationRange) {
    ThreadPool pool(1);
    const float x[] = {3.0f, -5.0f};
    const float w[] = {2.0f, 2.0f};
    const auto lambda = compute_smoothing(x, 1, w, 1, 2, 1.0f, 0.0f, pool);
    EXPECT_FLOAT_EQ(lambda[0], 3.0f);
    EXPECT_FLOAT_EQ(lambda[1], 5.0f);
}

}  // namespace svdq
