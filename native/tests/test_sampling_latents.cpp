// FLUX latent layout against diffusers' FluxPipeline: size rounding
// (prepare_latents), _pack_latents / _unpack_latents (view + permute written
// here as index arithmetic), _prepare_latent_image_ids and the inpainting blend.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "expect_error.h"
#include "sampling/flux_latents.h"

namespace svdq {
namespace {

using test::expect_error;

std::vector<float> iota_values(size_t count) {
    std::vector<float> v(count);
    for (size_t i = 0; i < count; ++i) v[i] = static_cast<float>(i) * 0.5f - 3.0f;
    return v;
}

TEST(FluxLatents, SizesRoundAsThePipeline) {
    const FluxLatentShape square = flux_latent_shape(1024, 1024, 16);
    EXPECT_EQ(square.height, 128);
    EXPECT_EQ(square.width, 128);
    EXPECT_EQ(square.tokens(), 4096);
    EXPECT_EQ(square.token_features(), 64);
    // 2 * (1000 // 16) = 124 columns, 2 * (777 // 16) = 96 rows: 992 x 768 pixels.
    const FluxLatentShape odd = flux_latent_shape(1000, 777, 16);
    EXPECT_EQ(odd.width, 124);
    EXPECT_EQ(odd.height, 96);
    EXPECT_EQ(odd.pixel_width(), 992);
    EXPECT_EQ(odd.pixel_height(), 768);
    EXPECT_EQ(odd.tokens(), 48 * 62);
    EXPECT_EQ(flux_latent_shape(512, 512, 16).tokens(), 1024);
    const FluxLatentShape smallest = flux_latent_shape(16, 31, 4);  // one patch
    EXPECT_EQ(smallest.tokens(), 1);
    EXPECT_EQ(smallest.numel(), 16);

    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "width 15 is outside [16, 65536]", [] { flux_latent_shape(15, 64, 16); });
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "height 0 is outside", [] { flux_latent_shape(64, 0, 16); });
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "height -32 is outside", [] { flux_latent_shape(64, -32, 16); });
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "width 65537", [] { flux_latent_shape(65537, 64, 16); });
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "latent channels 0", [] { flux_latent_shape(64, 64, 0); });
}

// _pack_latents is view(C, H/2, 2, W/2, 2).permute(2, 4, 0, 3, 5).reshape(S, 4C):
// token t = (r, c) with r = t / (W/2), c = t % (W/2); feature f = (ch, dy, dx)
// with ch = f / 4, dy = f % 4 / 2, dx = f % 2 reads latent[ch, 2r + dy, 2c + dx].
TEST(FluxLatents, PackingFollowsThePipelinesPermutation) {
    // By hand: one channel, 2 x 4: [a b c d; e f g h] -> tokens [a b e f], [c d g h].
    const FluxLatentShape tiny{1, 2, 4};
    EXPECT_EQ(pack_latents({1, 2, 3, 4, 5, 6, 7, 8}, tiny), (std::vector<float>{1, 2, 5, 6, 3, 4, 7, 8}));

    const FluxLatentShape shape{3, 4, 6};  // 3 channels, 2 x 3 tokens of 12 features
    const std::vector<float> latents = iota_values(static_cast<size_t>(shape.numel()));
    const std::vector<float> tokens = pack_latents(latents, shape);
    ASSERT_EQ(tokens.size(), latents.size());
    for (int64_t t = 0; t < shape.tokens(); ++t) {
        for (int64_t f = 0; f < shape.token_features(); ++f) {
            const int64_t r = t / (shape.width / 2), c = t % (shape.width / 2);
            const int64_t ch = f / 4, dy = f % 4 / 2, dx = f % 2;
            const float expected = latents[static_cast<size_t>((ch * shape.height + 2 * r + dy) * shape.width + 2 * c + dx)];
            EXPECT_EQ(tokens[static_cast<size_t>(t * shape.token_features() + f)], expected) << t << ", " << f;
        }
    }
    EXPECT_EQ(unpack_latents(tokens, shape), latents);
    const std::vector<float> packed = iota_values(tokens.size());
    EXPECT_EQ(pack_latents(unpack_latents(packed, shape), shape), packed);

    expect_error(SVDQ_ERROR_SHAPE_MISMATCH, "the latents to pack has 71 values, the latent shape needs 72",
                 [&] { pack_latents(std::vector<float>(71), shape); });
    expect_error(SVDQ_ERROR_SHAPE_MISMATCH, "the packed latents has 73 values",
                 [&] { unpack_latents(std::vector<float>(73), shape); });
}

TEST(FluxLatents, IdsAreRowAndColumnOfEachToken) {
    const FluxLatentShape shape{16, 4, 6};  // 2 rows x 3 columns of tokens
    EXPECT_EQ(flux_image_ids(shape), (std::vector<float>{0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 1, 0, 0, 1, 1, 0, 1, 2}));
    const std::vector<float> big = flux_image_ids(flux_latent_shape(1024, 512, 16));  // 32 rows x 64 columns
    ASSERT_EQ(big.size(), 32u * 64u * 3u);
    EXPECT_EQ(big[(5 * 64 + 17) * 3 + 0], 0.0f);
    EXPECT_EQ(big[(5 * 64 + 17) * 3 + 1], 5.0f);
    EXPECT_EQ(big[(5 * 64 + 17) * 3 + 2], 17.0f);
    EXPECT_EQ(flux_text_ids(4), std::vector<float>(12, 0.0f));
    EXPECT_TRUE(flux_text_ids(0).empty());
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "-1", [] { flux_text_ids(-1); });
}

// latents = (1 - mask) * (sigma * noise + (1 - sigma) * original) + mask * latents.
TEST(FluxLatents, InpaintBlendKeepsTheUnmaskedOriginalAtTheNextSigma) {
    const std::vector<float> original = {1.0f, -2.0f, 0.5f, 4.0f}, noise = {0.3f, 1.5f, -1.0f, -0.25f};
    const std::vector<float> mask = {0.0f, 1.0f, 0.25f, 0.75f}, sampled = {10.0f, 20.0f, 30.0f, 40.0f};
    const float sigma = 0.4f;
    std::vector<float> latents = sampled;
    inpaint_blend(latents, original, noise, mask, sigma);
    for (size_t i = 0; i < latents.size(); ++i) {
        const double source = double{sigma} * noise[i] + (1.0 - sigma) * original[i];
        EXPECT_NEAR(latents[i], (1.0 - mask[i]) * source + mask[i] * sampled[i], 2e-6) << i;
    }
    EXPECT_EQ(latents[1], sampled[1]);  // mask 1: the sampler's value untouched
    latents = sampled;
    inpaint_blend(latents, original, noise, mask, 0.0f);  // after the last step
    EXPECT_EQ(latents[0], original[0]);
    expect_error(SVDQ_ERROR_SHAPE_MISMATCH, "the inpainting mask has 3 values", [&] {
        inpaint_blend(latents, original, noise, {1, 1, 1}, 0.5f);
    });
    expect_error(SVDQ_ERROR_SHAPE_MISMATCH, "the noise has 5 values", [&] {
        inpaint_blend(latents, original, {1, 1, 1, 1, 1}, mask, 0.5f);
    });
}

}  // namespace
}  // namespace svdq
