// The latent RGB preview against ComfyUI's definition: class Flux's
// latent_rgb_factors / latent_rgb_factors_bias (comfy/latent_formats.py in
// comfyanonymous/ComfyUI, written out again in comfyui_latent_rgb.h), Latent2RGBPreviewer's
// linear projection over the channels and preview_to_image's byte mapping
// (clamp to [-1, 1], (v + 1) * 127.5, round half to even), all in float64;
// the packed layout is diffusers' _pack_latents written as index arithmetic.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "comfyui_latent_rgb.h"
#include "core/error.h"
#include "expect_error.h"
#include "sampling/latent_preview.h"

namespace svdq {
namespace {

using test::expect_error;

using comfyui_reference::kBias;
using comfyui_reference::kFactors;
using comfyui_reference::pseudo_random;
using comfyui_reference::reference_byte;

FluxLatentShape latent_shape(int64_t channels, int64_t height, int64_t width) {
    FluxLatentShape shape;
    shape.channels = channels;
    shape.height = height;
    shape.width = width;
    return shape;
}

size_t packed_index(const FluxLatentShape& s, int64_t ch, int64_t y, int64_t x) {
    return comfyui_reference::packed_index(s.channels, s.width, ch, y, x);
}

struct Rgba {
    int r, g, b, a;
};

Rgba pixel(const LatentPreview& p, int64_t y, int64_t x) {
    const auto* q = &p.rgba[static_cast<size_t>((y * p.width + x) * 4)];
    return {q[0], q[1], q[2], q[3]};
}

void expect_pixel(const LatentPreview& p, int64_t y, int64_t x, const double rgb[3], const std::string& where) {
    const Rgba got = pixel(p, y, x);
    EXPECT_EQ(got.r, reference_byte(rgb[0])) << where << " R at (" << y << ", " << x << ")";
    EXPECT_EQ(got.g, reference_byte(rgb[1])) << where << " G at (" << y << ", " << x << ")";
    EXPECT_EQ(got.b, reference_byte(rgb[2])) << where << " B at (" << y << ", " << x << ")";
    EXPECT_EQ(got.a, 255) << where;
}

TEST(LatentPreview, ZeroLatentsShowTheBias) {
    // Every pixel is the bias alone: round((1 + bias) * 127.5) = 123, 118, 117.
    const FluxLatentShape s = latent_shape(16, 2, 4);
    const LatentPreview p = latent_preview_rgba(std::vector<float>(static_cast<size_t>(s.numel()), 0.0f), s);
    ASSERT_EQ(p.width, 4);
    ASSERT_EQ(p.height, 2);
    ASSERT_EQ(p.rgba.size(), 2u * 4u * 4u);
    for (int64_t y = 0; y < 2; ++y)
        for (int64_t x = 0; x < 4; ++x) {
            const Rgba got = pixel(p, y, x);
            EXPECT_EQ(got.r, 123);
            EXPECT_EQ(got.g, 118);
            EXPECT_EQ(got.b, 117);
            EXPECT_EQ(got.a, 255);
        }
}

TEST(LatentPreview, FluxProjectionMatchesPublishedFactors) {
    // Latents of amplitude 4 give projections up to 1.49 in magnitude:
    // measured 121 of the 144 values inside (-1, 1) and 23 clamped, so both
    // the linear range and the clamp are checked (counts asserted below).
    const FluxLatentShape s = latent_shape(16, 6, 8);
    const std::vector<float> packed = pseudo_random(static_cast<size_t>(s.numel()), 4.0, 7u);
    const LatentPreview p = latent_preview_rgba(packed, s);
    ASSERT_EQ(p.width, 8);
    ASSERT_EQ(p.height, 6);
    ASSERT_EQ(p.rgba.size(), static_cast<size_t>(6 * 8 * 4));
    int linear = 0, clamped = 0;
    for (int64_t y = 0; y < s.height; ++y)
        for (int64_t x = 0; x < s.width; ++x) {
            double rgb[3];
            for (int k = 0; k < 3; ++k) {
                rgb[k] = kBias[k];
                for (int c = 0; c < 16; ++c)
                    rgb[k] += static_cast<double>(packed[packed_index(s, c, y, x)]) * kFactors[c][k];
                (std::fabs(rgb[k]) < 1.0 ? linear : clamped)++;
            }
            expect_pixel(p, y, x, rgb, "projection");
        }
    EXPECT_GT(linear, 100);  // of 144 values
    EXPECT_GT(clamped, 0);
}

TEST(LatentPreview, OneHotChannelLightsOnlyItsPixelWithTheFactorRow) {
    // Value 5 puts the factor row 5 * |f| <= 0.63 over the bias: inside
    // [-1, 1], 0.2 to 80 bytes away from the background. Positions cover
    // every (dy, dx) of a 2x2 patch and patches off the diagonal.
    const FluxLatentShape s = latent_shape(16, 4, 6);
    const int64_t positions[][2] = {{0, 0}, {0, 3}, {1, 4}, {3, 1}, {2, 5}, {3, 3}};
    for (int64_t c = 0; c < 16; ++c)
        for (const auto& pos : positions) {
            std::vector<float> packed(static_cast<size_t>(s.numel()), 0.0f);
            packed[packed_index(s, c, pos[0], pos[1])] = 5.0f;
            const LatentPreview p = latent_preview_rgba(packed, s);
            const std::string where = "channel " + std::to_string(c);
            for (int64_t y = 0; y < s.height; ++y)
                for (int64_t x = 0; x < s.width; ++x) {
                    double rgb[3];
                    const bool hot = y == pos[0] && x == pos[1];
                    for (int k = 0; k < 3; ++k) rgb[k] = kBias[k] + (hot ? 5.0 * kFactors[c][k] : 0.0);
                    expect_pixel(p, y, x, rgb, where);
                }
        }
}

// The fallback's reference: channel min(k, C - 1) stretched by its own
// finite min/max to [-1, 1]; a constant channel is 0.
std::vector<double> fallback_plane(const std::vector<float>& packed, const FluxLatentShape& s, int64_t k) {
    const int64_t ch = k < s.channels ? k : s.channels - 1;
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (int64_t y = 0; y < s.height; ++y)
        for (int64_t x = 0; x < s.width; ++x) {
            const double v = packed[packed_index(s, ch, y, x)];
            if (std::isfinite(v)) lo = std::fmin(lo, v), hi = std::fmax(hi, v);
        }
    std::vector<double> plane;
    for (int64_t y = 0; y < s.height; ++y)
        for (int64_t x = 0; x < s.width; ++x)
            plane.push_back(hi > lo ? 2.0 * (packed[packed_index(s, ch, y, x)] - lo) / (hi - lo) - 1.0 : 0.0);
    return plane;
}

void expect_fallback(const std::vector<float>& packed, const FluxLatentShape& s, const std::string& where) {
    const LatentPreview p = latent_preview_rgba(packed, s);
    ASSERT_EQ(p.width, s.width);
    ASSERT_EQ(p.height, s.height);
    const std::vector<double> planes[3] = {fallback_plane(packed, s, 0), fallback_plane(packed, s, 1),
                                           fallback_plane(packed, s, 2)};
    for (int64_t y = 0; y < s.height; ++y)
        for (int64_t x = 0; x < s.width; ++x) {
            const auto i = static_cast<size_t>(y * s.width + x);
            const double rgb[3] = {planes[0][i], planes[1][i], planes[2][i]};
            expect_pixel(p, y, x, rgb, where);
        }
}

TEST(LatentPreview, OtherChannelCountsStretchTheFirstThreeChannels) {
    // 4 channels: channels 0..2 are R, G, B; channel 3's huge values must
    // not show. Values of amplitude 3 with offsets so that min/max differ
    // per channel; the stretch puts each channel's min at 0 and max at 255.
    const FluxLatentShape s4 = latent_shape(4, 4, 6);
    std::vector<float> packed = pseudo_random(static_cast<size_t>(s4.numel()), 3.0, 11u);
    for (int64_t y = 0; y < s4.height; ++y)
        for (int64_t x = 0; x < s4.width; ++x) {
            packed[packed_index(s4, 1, y, x)] += 2.0f;
            packed[packed_index(s4, 3, y, x)] = 1000.0f * static_cast<float>(y - x);
        }
    expect_fallback(packed, s4, "4 channels");
    const LatentPreview p = latent_preview_rgba(packed, s4);
    int r_min = 255, r_max = 0;
    for (size_t i = 0; i < p.rgba.size(); i += 4) {
        r_min = std::min<int>(r_min, p.rgba[i]);
        r_max = std::max<int>(r_max, p.rgba[i]);
    }
    EXPECT_EQ(r_min, 0);
    EXPECT_EQ(r_max, 255);

    // 1 channel is grey; 2 channels repeat the second as blue; 32 channels
    // (no factors) take the fallback too.
    const FluxLatentShape s1 = latent_shape(1, 2, 4);
    expect_fallback(pseudo_random(static_cast<size_t>(s1.numel()), 2.0, 3u), s1, "1 channel");
    const FluxLatentShape s2 = latent_shape(2, 2, 4);
    expect_fallback(pseudo_random(static_cast<size_t>(s2.numel()), 2.0, 5u), s2, "2 channels");
    const FluxLatentShape s32 = latent_shape(32, 2, 2);
    expect_fallback(pseudo_random(static_cast<size_t>(s32.numel()), 2.0, 9u), s32, "32 channels");
}

TEST(LatentPreview, FallbackConstantIsMidGreyNaNIsBlackAndInfinitiesDoNotSpoilTheStretch) {
    const FluxLatentShape s = latent_shape(3, 2, 4);
    std::vector<float> packed(static_cast<size_t>(s.numel()), 0.0f);
    const float inf = std::numeric_limits<float>::infinity();
    const float red[8] = {-1.0f, 0.0f, 3.0f, std::numeric_limits<float>::quiet_NaN(), inf, -inf, 1.0f, 1.0f};
    for (int64_t i = 0; i < 8; ++i) {  // row-major pixels
        packed[packed_index(s, 0, i / 4, i % 4)] = red[i];
        packed[packed_index(s, 1, i / 4, i % 4)] = 0.25f;  // constant
        packed[packed_index(s, 2, i / 4, i % 4)] = static_cast<float>(i);
    }
    const LatentPreview p = latent_preview_rgba(packed, s);
    // Red stretched over its finite range [-1, 3]: 0, 63.75 -> 64, 255, NaN
    // -> 0, +Inf -> 255, -Inf -> 0, 127.5 -> 128. Blue over [0, 7]: i * 255 / 7.
    const int expected_red[8] = {0, 64, 255, 0, 255, 0, 128, 128};
    const int expected_blue[8] = {0, 36, 73, 109, 146, 182, 219, 255};
    for (int64_t i = 0; i < 8; ++i) {
        const Rgba got = pixel(p, i / 4, i % 4);
        EXPECT_EQ(got.r, expected_red[i]) << i;
        EXPECT_EQ(got.g, 128) << i;  // 0 -> 127.5 -> 128
        EXPECT_EQ(got.b, expected_blue[i]) << i;
        EXPECT_EQ(got.a, 255) << i;
    }
}

TEST(LatentPreview, UpscaleRepeatsEachPixel) {
    const FluxLatentShape s = latent_shape(16, 2, 4);
    const std::vector<float> packed = pseudo_random(static_cast<size_t>(s.numel()), 3.0, 21u);
    const LatentPreview one = latent_preview_rgba(packed, s, 1);
    const LatentPreview three = latent_preview_rgba(packed, s, 3);
    ASSERT_EQ(three.width, 12);
    ASSERT_EQ(three.height, 6);
    ASSERT_EQ(three.rgba.size(), static_cast<size_t>(12 * 6 * 4));
    for (int64_t y = 0; y < three.height; ++y)
        for (int64_t x = 0; x < three.width; ++x) {
            const Rgba got = pixel(three, y, x), want = pixel(one, y / 3, x / 3);
            EXPECT_EQ(got.r, want.r) << y << ", " << x;
            EXPECT_EQ(got.g, want.g) << y << ", " << x;
            EXPECT_EQ(got.b, want.b) << y << ", " << x;
            EXPECT_EQ(got.a, 255) << y << ", " << x;
        }
    const LatentPreview full = latent_preview_rgba(packed, s, kMaxPreviewUpscale);
    EXPECT_EQ(full.width, s.pixel_width());
    EXPECT_EQ(full.height, s.pixel_height());
}

TEST(LatentPreview, BadShapesAreRefusedByName) {
    const FluxLatentShape s = latent_shape(16, 2, 4);
    const std::vector<float> packed(static_cast<size_t>(s.numel()), 0.0f);
    expect_error(SVDQ_ERROR_SHAPE_MISMATCH, "packed latents has 127 values", [&] {
        latent_preview_rgba(std::vector<float>(packed.begin(), packed.end() - 1), s);
    });
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "latent height 3", [&] {
        latent_preview_rgba(std::vector<float>(16 * 3 * 4), latent_shape(16, 3, 4));
    });
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "latent width 0",
                 [&] { latent_preview_rgba({}, latent_shape(16, 2, 0)); });
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "latent width 8194",
                 [&] { latent_preview_rgba(packed, latent_shape(16, 2, 8194)); });
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "latent channels 0",
                 [&] { latent_preview_rgba({}, latent_shape(0, 2, 4)); });
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "preview upscale 0", [&] { latent_preview_rgba(packed, s, 0); });
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "preview upscale 9", [&] { latent_preview_rgba(packed, s, 9); });
}

}  // namespace
}  // namespace svdq
