// The VAE's C API (svdq_vae_*, svdq_flux_latents_decode,
// svdq_flux_image_encode, svdq_image_to_rgba8) on tiny VAE folders in
// diffusers' layout (vae_reference.h): raw decode and encode equal the C++
// AutoencoderKL bit for bit, with each tiling mode mapped as documented; the
// FLUX glue equals unpack (the published 2x2 packing formula) + scaling +
// decode written here; image encoding packs the scaled mode or seeded sample;
// 8-bit conversion against round-half-even computed here; bad input named.
// In the unit-test binary, which links the engine's objects, so the C API and
// the class it wraps are compared in one process.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/context.h"
#include "models/vae/autoencoder_kl.h"
#include "models/vae/vae_scaling.h"
#include "sampling/noise.h"
#include "svdquant.h"
#include "test_util.h"
#include "vae_reference.h"

namespace svdq {
namespace {

namespace fs = std::filesystem;
namespace ref = test::vae;

// The tiny VAE of these tests: 2 levels (downscale 2), 4 latent channels,
// quant convs, mid-block attention, sample_size 32 (the default tile).
ref::Config tiny_config() { return ref::Config{}; }

std::string write_vae(const ref::Config& c, const ref::Weights& w, const std::string& tag) {
    const std::string dir = testing::TempDir() + "svdq_c_api_vae_" + tag;
    fs::remove_all(dir);
    ref::write_folder(dir, c.json(), w);
    return dir;
}

// A tensor over `values` (no copy) with `shape`; destroyed with the object.
struct Wrapped {
    Wrapped(std::vector<float>& values, std::vector<int64_t> shape) {
        EXPECT_EQ(svdq_tensor_wrap(SVDQ_DTYPE_F32, shape.data(), static_cast<int32_t>(shape.size()), values.data(),
                                   values.size() * sizeof(float), &t),
                  SVDQ_OK)
            << svdq_last_error_message();
    }
    ~Wrapped() { svdq_tensor_destroy(t); }
    Wrapped(const Wrapped&) = delete;
    Wrapped& operator=(const Wrapped&) = delete;
    svdq_tensor* t = nullptr;
};

// A C API context and a VAE loaded through it, and the same folder loaded by
// the C++ class on a context with the same options.
class CApiVae : public testing::Test {
protected:
    void load(const ref::Config& c, const ref::Weights& w, const std::string& tag) {
        folder_ = write_vae(c, w, tag);
        const svdq_context_options o = test::context_options();
        ASSERT_EQ(svdq_context_create(&o, &context_), SVDQ_OK) << svdq_last_error_message();
        ASSERT_EQ(svdq_vae_load(context_, folder_.c_str(), &vae_), SVDQ_OK) << svdq_last_error_message();
        cpp_context_ = std::make_unique<Context>(o);
        cpp_vae_ = std::make_unique<AutoencoderKL>(*cpp_context_, folder_);
    }
    void TearDown() override {
        svdq_vae_destroy(vae_);
        svdq_context_destroy(context_);
    }

    // int32_t, as the struct holds it: a test passes values outside the enum on purpose.
    static svdq_vae_options options(int32_t tiling, int32_t tile) {
        svdq_vae_options o;
        svdq_vae_options_init(&o);
        o.tiling = tiling;
        o.tile_sample_size = tile;
        return o;
    }

    // C API decode of latents [shape] with `o`.
    std::vector<float> api_decode(std::vector<float> z, const std::vector<int64_t>& shape, const svdq_vae_options* o) {
        std::vector<float> image(static_cast<size_t>(shape[0] * 3 * shape[2] * 2 * shape[3] * 2));
        Wrapped in(z, shape), out(image, {shape[0], 3, shape[2] * 2, shape[3] * 2});
        EXPECT_EQ(svdq_vae_decode(context_, vae_, o, in.t, out.t), SVDQ_OK) << svdq_last_error_message();
        return image;
    }
    std::vector<float> class_decode(const std::vector<float>& z, const std::vector<int64_t>& shape, VaeTiling tiling) {
        std::vector<float> image(static_cast<size_t>(shape[0] * 3 * shape[2] * 2 * shape[3] * 2));
        cpp_vae_->decode(*cpp_context_, z.data(), shape, image.data(), tiling);
        return image;
    }

    std::string folder_;
    svdq_context* context_ = nullptr;
    svdq_vae* vae_ = nullptr;
    std::unique_ptr<Context> cpp_context_;
    std::unique_ptr<AutoencoderKL> cpp_vae_;
};

void expect_failure(svdq_status got, svdq_status status, const std::string& part) {
    EXPECT_EQ(got, status) << svdq_last_error_message();
    const std::string message = svdq_last_error_message();
    EXPECT_NE(message.find(part), std::string::npos) << message;
}

// Seeded U(-1, 1) values, an image's range.
std::vector<float> uniform(size_t count, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> v(count);
    for (float& x : v) x = dist(rng);
    return v;
}

// diffusers' _unpack_latents for batch 1, from its published formula:
// packed token r * (w / 2) + c, feature ch * 4 + dy * 2 + dx holds latent[ch, 2r + dy, 2c + dx].
std::vector<float> unpack(const std::vector<float>& packed, int64_t channels, int64_t h, int64_t w) {
    std::vector<float> z(static_cast<size_t>(channels * h * w));
    for (int64_t ch = 0; ch < channels; ++ch)
        for (int64_t y = 0; y < h; ++y)
            for (int64_t x = 0; x < w; ++x) {
                const int64_t token = (y / 2) * (w / 2) + x / 2, feature = ch * 4 + (y % 2) * 2 + x % 2;
                z[static_cast<size_t>((ch * h + y) * w + x)] = packed[static_cast<size_t>(token * 4 * channels + feature)];
            }
    return z;
}

// _pack_latents, the same formula the other way.
std::vector<float> pack(const std::vector<float>& z, int64_t channels, int64_t h, int64_t w) {
    std::vector<float> packed(z.size());
    for (int64_t ch = 0; ch < channels; ++ch)
        for (int64_t y = 0; y < h; ++y)
            for (int64_t x = 0; x < w; ++x) {
                const int64_t token = (y / 2) * (w / 2) + x / 2, feature = ch * 4 + (y % 2) * 2 + x % 2;
                packed[static_cast<size_t>(token * 4 * channels + feature)] = z[static_cast<size_t>((ch * h + y) * w + x)];
            }
    return packed;
}

TEST_F(CApiVae, InfoReportsTheConfigAndTheParameters) {
    ref::Config c = tiny_config();
    c.latent_channels = 6;
    const ref::Weights w = ref::random_weights(c, 21);
    load(c, w, "info");
    int64_t parameters = 0;
    for (const auto& [name, t] : w) parameters += static_cast<int64_t>(t.values.size());

    svdq_vae_info info{};
    info.struct_size = sizeof info;
    ASSERT_EQ(svdq_vae_get_info(vae_, &info), SVDQ_OK) << svdq_last_error_message();
    EXPECT_EQ(info.in_channels, 3);
    EXPECT_EQ(info.out_channels, 3);
    EXPECT_EQ(info.latent_channels, 6);
    EXPECT_EQ(info.downscale, 2);
    EXPECT_EQ(info.sample_size, 32);
    EXPECT_DOUBLE_EQ(info.scaling_factor, 0.3611);
    EXPECT_DOUBLE_EQ(info.shift_factor, 0.1159);
    EXPECT_EQ(info.parameter_count, parameters);
    EXPECT_EQ(info.weight_bytes, static_cast<uint64_t>(parameters) * 4);
}

// Raw decode through the C API equals AutoencoderKL::decode bit for bit in
// each tiling mode: NEVER is one pass; AUTO with an 8-pixel tile stays one
// pass for a 12x16 image (within the default tile, sample_size 32); ALWAYS
// with the same tile runs 8-pixel tiles. The tiled and untiled images differ
// (checked), so a mode mapped to the other one fails.
TEST_F(CApiVae, DecodeEqualsTheClassBitForBitInEveryTilingMode) {
    const ref::Config c = tiny_config();
    load(c, ref::random_weights(c, 22), "decode");
    const std::vector<int64_t> shape{2, 4, 6, 8};
    const std::vector<float> z = test::gaussian(2 * 4 * 6 * 8, 23);

    const std::vector<float> untiled = class_decode(z, shape, {false, 0});
    const std::vector<float> tiled = class_decode(z, shape, {true, 8});
    ASSERT_NE(untiled, tiled) << "the tiles must change the image for this test to tell the modes apart";

    const svdq_vae_options never = options(SVDQ_VAE_TILING_NEVER, 8), automatic = options(SVDQ_VAE_TILING_AUTO, 8),
                           always = options(SVDQ_VAE_TILING_ALWAYS, 8);
    EXPECT_EQ(api_decode(z, shape, nullptr), untiled) << "default options";
    EXPECT_EQ(api_decode(z, shape, &never), untiled) << "NEVER";
    EXPECT_EQ(api_decode(z, shape, &automatic), untiled) << "AUTO: the image fits the default tile";
    EXPECT_EQ(api_decode(z, shape, &always), tiled) << "ALWAYS: 8-pixel tiles";
}

// AUTO tiles an image larger than the default tile (sample_size 32) with the
// options' tile: a 40x40 image decodes as the class's 16-pixel tiles.
TEST_F(CApiVae, AutoTilesAnImageAboveTheDefaultTile) {
    const ref::Config c = tiny_config();
    load(c, ref::random_weights(c, 24), "auto");
    const std::vector<int64_t> shape{1, 4, 20, 20};
    const std::vector<float> z = test::gaussian(4 * 20 * 20, 25);
    const std::vector<float> tiled = class_decode(z, shape, {true, 16});
    ASSERT_NE(tiled, class_decode(z, shape, {false, 0}));
    const svdq_vae_options automatic = options(SVDQ_VAE_TILING_AUTO, 16);
    EXPECT_EQ(api_decode(z, shape, &automatic), tiled);
}

// Raw encode: mean and logvar equal AutoencoderKL::encode bit for bit, untiled and tiled.
TEST_F(CApiVae, EncodeEqualsTheClassBitForBit) {
    const ref::Config c = tiny_config();
    load(c, ref::random_weights(c, 26), "encode");
    std::vector<float> x = uniform(2 * 3 * 12 * 16, 27);
    const size_t latent_count = 2 * 4 * 6 * 8;
    for (svdq_vae_tiling mode : {SVDQ_VAE_TILING_NEVER, SVDQ_VAE_TILING_ALWAYS}) {
        std::vector<float> mean(latent_count), logvar(latent_count), want_mean(latent_count), want_logvar(latent_count);
        Wrapped in(x, {2, 3, 12, 16}), m(mean, {2, 4, 6, 8}), l(logvar, {2, 4, 6, 8});
        const svdq_vae_options o = options(mode, 8);
        ASSERT_EQ(svdq_vae_encode(context_, vae_, &o, in.t, m.t, l.t), SVDQ_OK) << svdq_last_error_message();
        cpp_vae_->encode(*cpp_context_, x.data(), {2, 3, 12, 16}, want_mean.data(), want_logvar.data(),
                         {mode == SVDQ_VAE_TILING_ALWAYS, 8});
        EXPECT_EQ(mean, want_mean) << "tiling mode " << mode;
        EXPECT_EQ(logvar, want_logvar) << "tiling mode " << mode;
        EXPECT_NE(mean, logvar);
    }
}

// svdq_flux_latents_decode = unpack + (latents / scaling_factor + shift_factor)
// + vae.decode, the first two written here from FluxPipeline's definitions.
TEST_F(CApiVae, FluxLatentsDecodeUnpacksScalesAndDecodes) {
    const ref::Config c = tiny_config();
    load(c, ref::random_weights(c, 28), "flux_decode");
    const int64_t h = 4, w = 6, channels = 4;
    std::vector<float> packed = test::gaussian(static_cast<size_t>(channels * h * w), 29);
    std::vector<float> image(3 * 8 * 12);
    Wrapped in(packed, {1, (h / 2) * (w / 2), 4 * channels}), out(image, {1, 3, 8, 12});
    ASSERT_EQ(svdq_flux_latents_decode(context_, vae_, nullptr, in.t, h, w, out.t), SVDQ_OK) << svdq_last_error_message();

    std::vector<float> z = unpack(packed, channels, h, w);
    const float scale = static_cast<float>(c.scaling_factor), shift = static_cast<float>(c.shift_factor);
    for (float& v : z) v = v / scale + shift;
    EXPECT_EQ(image, class_decode(z, {1, channels, h, w}, {false, 0}));
}

// Mode: the packed (mean - shift_factor) * scaling_factor; sample: the same of
// mean + exp(logvar / 2) * noise, the noise the seed's VAE stream
// (sampling/noise.h); and the latents decode back to the image's shape.
TEST_F(CApiVae, ImageEncodePacksTheScaledModeOrSampleAndDecodesBack) {
    const ref::Config c = tiny_config();
    load(c, ref::random_weights(c, 30), "flux_encode");
    const int64_t H = 16, W = 24, h = 8, w = 12, channels = 4, tokens = (h / 2) * (w / 2);
    std::vector<float> x = uniform(3 * H * W, 31);
    std::vector<float> mean(static_cast<size_t>(channels * h * w)), logvar(mean.size());
    cpp_vae_->encode(*cpp_context_, x.data(), {1, 3, H, W}, mean.data(), logvar.data(), {false, 0});
    const float scale = static_cast<float>(c.scaling_factor), shift = static_cast<float>(c.shift_factor);

    const auto encode = [&](int32_t sample, uint64_t seed) {
        std::vector<float> packed(static_cast<size_t>(tokens * 4 * channels));
        Wrapped in(x, {1, 3, H, W}), out(packed, {1, tokens, 4 * channels});
        EXPECT_EQ(svdq_flux_image_encode(context_, vae_, nullptr, in.t, sample, seed, out.t), SVDQ_OK) << svdq_last_error_message();
        return packed;
    };
    std::vector<float> mode = mean;
    for (float& v : mode) v = (v - shift) * scale;
    EXPECT_EQ(encode(0, 5), pack(mode, channels, h, w)) << "mode";

    const std::vector<float> noise = GaussianNoise(7, kVaeSampleStream).generate(mean.size());
    std::vector<float> sampled(mean.size());
    for (size_t i = 0; i < mean.size(); ++i) sampled[i] = (mean[i] + std::exp(0.5f * logvar[i]) * noise[i] - shift) * scale;
    const std::vector<float> got = encode(1, 7);
    EXPECT_EQ(got, pack(sampled, channels, h, w)) << "seeded sample";
    EXPECT_NE(got, encode(1, 8)) << "another seed";

    std::vector<float> packed = encode(0, 0), image(static_cast<size_t>(3 * H * W));
    Wrapped in(packed, {1, tokens, 4 * channels}), out(image, {1, 3, H, W});
    EXPECT_EQ(svdq_flux_latents_decode(context_, vae_, nullptr, in.t, h, w, out.t), SVDQ_OK) << svdq_last_error_message();
    EXPECT_TRUE(std::all_of(image.begin(), image.end(), [](float v) { return std::isfinite(v) && v != 0.0f; }));
}

// VaeImageProcessor.postprocess: round(clamp(x / 2 + 0.5, 0, 1) * 255) with
// numpy's round (half to even), written here; RGBA order, alpha 255. The
// inputs include values whose scaled value is exactly k + 0.5 with k even,
// where half-to-even and half-away-from-zero differ (counted).
TEST(CApiVaeImage, Rgba8RoundsHalfToEvenAndClamps) {
    std::vector<float> values = uniform(3 * 7 * 9, 33);
    int even_ties = 0;
    for (int k = 0; k < 255 && static_cast<size_t>(even_ties) < 40; k += 2) {
        // t = (k + 0.5) / 255 in float: keep x where the float formula lands exactly on the tie.
        const float x = (static_cast<float>((k + 0.5) / 255.0) - 0.5f) * 2.0f;
        if (std::clamp(x / 2.0f + 0.5f, 0.0f, 1.0f) * 255.0f == static_cast<float>(k) + 0.5f)
            values[static_cast<size_t>(even_ties++) * 3 + 2] = x;
    }
    ASSERT_GE(even_ties, 5) << "ties found";
    values[0] = 3.0f;
    values[1] = -3.0f;
    const int64_t H = 7, W = 9, pixels = H * W;
    std::vector<uint8_t> rgba(static_cast<size_t>(pixels * 4), 7);
    Wrapped image(values, {1, 3, H, W});
    ASSERT_EQ(svdq_image_to_rgba8(image.t, rgba.data(), rgba.size()), SVDQ_OK) << svdq_last_error_message();

    for (int64_t ch = 0; ch < 3; ++ch)
        for (int64_t p = 0; p < pixels; ++p) {
            const float x = values[static_cast<size_t>(ch * pixels + p)];
            const double v = static_cast<double>(std::clamp(x / 2.0f + 0.5f, 0.0f, 1.0f) * 255.0f);
            double r = std::floor(v);
            if (v - r > 0.5 || (v - r == 0.5 && std::fmod(r, 2.0) != 0.0)) r += 1.0;
            EXPECT_EQ(rgba[static_cast<size_t>(p * 4 + ch)], static_cast<uint8_t>(r)) << "channel " << ch << " pixel " << p << " x " << x;
        }
    for (int64_t p = 0; p < pixels; ++p) EXPECT_EQ(rgba[static_cast<size_t>(p * 4 + 3)], 255);
    EXPECT_EQ(rgba[0], 255);  // 3 clamps to 1
    EXPECT_EQ(rgba[4], 0);    // -3 clamps to 0
}

TEST(CApiVaeImage, Rgba8RefusesBadInputByName) {
    std::vector<float> values(3 * 2 * 2, 0.0f);
    std::vector<uint8_t> rgba(16);
    {
        Wrapped image(values, {1, 3, 2, 2});
        expect_failure(svdq_image_to_rgba8(image.t, rgba.data(), 15), SVDQ_ERROR_SHAPE_MISMATCH, "out_bytes is 15");
        expect_failure(svdq_image_to_rgba8(image.t, nullptr, 16), SVDQ_ERROR_INVALID_ARGUMENT, "out_rgba is NULL");
        values[5] = std::nanf("");
        expect_failure(svdq_image_to_rgba8(image.t, rgba.data(), 16), SVDQ_ERROR_NON_FINITE, "image");
        values[5] = 0.0f;
    }
    Wrapped four(values, {1, 4, 3, 1});
    expect_failure(svdq_image_to_rgba8(four.t, rgba.data(), 12), SVDQ_ERROR_SHAPE_MISMATCH, "[1, 3, H, W]");
    expect_failure(svdq_image_to_rgba8(nullptr, rgba.data(), 16), SVDQ_ERROR_INVALID_ARGUMENT, "image is NULL");
}

TEST_F(CApiVae, BadInputIsNamed) {
    const ref::Config c = tiny_config();
    load(c, ref::random_weights(c, 34), "bad");
    std::vector<float> z(3 * 4 * 4), image(3 * 8 * 8), big(3 * 13 * 16), packed(6 * 16), out16(3 * 8 * 12), f16(4 * 4 * 4);
    Wrapped three_channels(z, {1, 3, 4, 4}), out(image, {1, 3, 8, 8}), odd_image(big, {1, 3, 13, 16});
    expect_failure(svdq_vae_decode(context_, vae_, nullptr, three_channels.t, out.t), SVDQ_ERROR_SHAPE_MISMATCH,
                   "latents have 3 channels");
    std::vector<float> mean(4 * 6 * 8), logvar(mean.size());
    Wrapped m(mean, {1, 4, 6, 8}), l(logvar, {1, 4, 6, 8});
    expect_failure(svdq_vae_encode(context_, vae_, nullptr, odd_image.t, m.t, l.t), SVDQ_ERROR_SHAPE_MISMATCH, "multiples of 2");

    // F16 bytes where F32 is required.
    svdq_tensor* half = nullptr;
    const int64_t half_shape[] = {1, 4, 4, 4};
    ASSERT_EQ(svdq_tensor_wrap(SVDQ_DTYPE_F16, half_shape, 4, f16.data(), 4 * 4 * 4 * 2, &half), SVDQ_OK);
    expect_failure(svdq_vae_decode(context_, vae_, nullptr, half, out.t), SVDQ_ERROR_DTYPE, "latents must be F32, not F16");
    svdq_tensor_destroy(half);

    std::vector<float> latents(4 * 4 * 4);
    Wrapped good(latents, {1, 4, 4, 4}), wrong_out(image, {1, 3, 4, 16});
    expect_failure(svdq_vae_decode(context_, vae_, nullptr, good.t, wrong_out.t), SVDQ_ERROR_SHAPE_MISMATCH, "out_image");
    expect_failure(svdq_vae_decode(context_, nullptr, nullptr, good.t, out.t), SVDQ_ERROR_INVALID_ARGUMENT, "vae is NULL");
    expect_failure(svdq_vae_decode(nullptr, vae_, nullptr, good.t, out.t), SVDQ_ERROR_INVALID_ARGUMENT, "context is NULL");
    expect_failure(svdq_vae_decode(context_, vae_, nullptr, nullptr, out.t), SVDQ_ERROR_INVALID_ARGUMENT, "latents is NULL");
    svdq_vae_options bad_mode = options(7, 0), bad_tile = options(SVDQ_VAE_TILING_ALWAYS, 12);
    expect_failure(svdq_vae_decode(context_, vae_, &bad_mode, good.t, out.t), SVDQ_ERROR_INVALID_ARGUMENT, "svdq_vae_tiling");
    expect_failure(svdq_vae_decode(context_, vae_, &bad_tile, good.t, out.t), SVDQ_ERROR_INVALID_ARGUMENT, "tile_sample_size 12");
    latents[9] = INFINITY;
    expect_failure(svdq_vae_decode(context_, vae_, nullptr, good.t, out.t), SVDQ_ERROR_NON_FINITE, "latents");

    // The FLUX glue: 6 tokens of 16 features = 4 x 6 latents of 4 channels.
    Wrapped tokens(packed, {1, 6, 16}), flux_out(out16, {1, 3, 8, 12});
    expect_failure(svdq_flux_latents_decode(context_, vae_, nullptr, tokens.t, 4, 5, flux_out.t), SVDQ_ERROR_SHAPE_MISMATCH, "even");
    expect_failure(svdq_flux_latents_decode(context_, vae_, nullptr, tokens.t, 4, 8, flux_out.t), SVDQ_ERROR_SHAPE_MISMATCH,
                   "6 tokens");
    std::vector<float> wide(6 * 20);
    Wrapped five_channels(wide, {1, 6, 20});
    expect_failure(svdq_flux_latents_decode(context_, vae_, nullptr, five_channels.t, 4, 6, flux_out.t), SVDQ_ERROR_SHAPE_MISMATCH,
                   "4 latent channels");
    std::vector<float> img(3 * 8 * 14), init(16 * 14);
    Wrapped side(img, {1, 3, 8, 14}), init_out(init, {1, 14, 16});
    expect_failure(svdq_flux_image_encode(context_, vae_, nullptr, side.t, 0, 0, init_out.t), SVDQ_ERROR_SHAPE_MISMATCH,
                   "multiples of 4");
    Wrapped fits(out16, {1, 3, 8, 12});
    expect_failure(svdq_flux_image_encode(context_, vae_, nullptr, fits.t, 2, 0, tokens.t), SVDQ_ERROR_INVALID_ARGUMENT, "sample 2");

    svdq_vae* none = nullptr;
    const std::string empty = testing::TempDir() + "svdq_c_api_vae_empty";
    fs::create_directories(empty);
    expect_failure(svdq_vae_load(context_, empty.c_str(), &none), SVDQ_ERROR_IO, "no vae/ folder");
    EXPECT_EQ(none, nullptr);
    expect_failure(svdq_vae_load(context_, nullptr, &none), SVDQ_ERROR_INVALID_ARGUMENT, "path is NULL");
}

// A pipeline folder with vae/ loads as the VAE in it.
TEST_F(CApiVae, APipelineFolderLoadsItsVae) {
    const ref::Config c = tiny_config();
    const ref::Weights w = ref::random_weights(c, 35);
    const std::string pipeline = testing::TempDir() + "svdq_c_api_vae_pipeline";
    fs::remove_all(pipeline);
    ref::write_folder(pipeline + "/vae", c.json(), w);
    load(c, w, "direct");
    svdq_vae* from_pipeline = nullptr;
    ASSERT_EQ(svdq_vae_load(context_, pipeline.c_str(), &from_pipeline), SVDQ_OK) << svdq_last_error_message();
    std::vector<float> z = test::gaussian(4 * 4 * 4, 36), a(3 * 8 * 8), b(a.size());
    Wrapped in(z, {1, 4, 4, 4}), out_a(a, {1, 3, 8, 8}), out_b(b, {1, 3, 8, 8});
    EXPECT_EQ(svdq_vae_decode(context_, from_pipeline, nullptr, in.t, out_a.t), SVDQ_OK);
    EXPECT_EQ(svdq_vae_decode(context_, vae_, nullptr, in.t, out_b.t), SVDQ_OK);
    EXPECT_EQ(a, b);
    svdq_vae_info info{};
    info.struct_size = sizeof info;
    ASSERT_EQ(svdq_vae_get_info(from_pipeline, &info), SVDQ_OK);
    int64_t parameters = 0;
    for (const auto& [name, t] : w) parameters += static_cast<int64_t>(t.values.size());
    EXPECT_EQ(info.parameter_count, parameters) << "counted in vae/";
    svdq_vae_destroy(from_pipeline);
}

}  // namespace
}  // namespace svdq
