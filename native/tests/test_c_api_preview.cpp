// svdq_flux_latents_preview through the shipped library: every pixel against
// ComfyUI's published FLUX latent-to-RGB factors computed here in float64
// (comfyui_latent_rgb.h), the channel fallback, upscaling, and bad input named;
// and svdq_file_write, which hosts use to save the preview as the library saves files.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "comfyui_latent_rgb.h"
#include "svdquant.h"

namespace {

using comfyui_reference::kBias;
using comfyui_reference::kFactors;
using comfyui_reference::packed_index;
using comfyui_reference::pseudo_random;
using comfyui_reference::reference_byte;

// A tensor over `values` (no copy) with `shape`; destroyed with the object.
struct WrappedTensor {
    WrappedTensor(std::vector<float>& values, std::vector<int64_t> shape, int32_t dtype = SVDQ_DTYPE_F32) {
        const uint64_t bytes = dtype == SVDQ_DTYPE_F32 ? values.size() * sizeof(float) : values.size() * 2;
        EXPECT_EQ(svdq_tensor_wrap(dtype, shape.data(), static_cast<int32_t>(shape.size()), values.data(), bytes, &t),
                  SVDQ_OK)
            << svdq_last_error_message();
    }
    ~WrappedTensor() { svdq_tensor_destroy(t); }
    WrappedTensor(const WrappedTensor&) = delete;
    WrappedTensor& operator=(const WrappedTensor&) = delete;
    svdq_tensor* t = nullptr;
};

void expect_failure(svdq_status got, svdq_status status, const std::string& part) {
    EXPECT_EQ(got, status) << svdq_last_error_message();
    const std::string message = svdq_last_error_message();
    EXPECT_NE(message.find(part), std::string::npos) << message;
}

// The entries of `dir`, none of them a writer's temporary.
int entries_without_temporaries(const std::filesystem::path& dir) {
    int entries = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        EXPECT_NE(entry.path().filename().string().rfind(".svdq-", 0), 0u) << "a temporary was left: " << entry.path();
        ++entries;
    }
    return entries;
}

TEST(CApiLatentPreview, SixteenChannelsUseComfyUiFactorsAndUpscaleRepeats) {
    // 6 x 8 latents (12 tokens of 64 features), amplitude 4 so that both the
    // linear range and the clamp occur (counted below), upscale 3: 24 x 18 pixels.
    constexpr int64_t kChannels = 16, kHeight = 6, kWidth = 8;
    constexpr int32_t kUpscale = 3;
    std::vector<float> packed = pseudo_random(kChannels * kHeight * kWidth, 4.0, 29u);
    WrappedTensor tensor(packed, {1, (kHeight / 2) * (kWidth / 2), 4 * kChannels});
    std::vector<uint8_t> rgba(kWidth * kUpscale * kHeight * kUpscale * 4, 7);
    ASSERT_EQ(svdq_flux_latents_preview(tensor.t, kHeight, kWidth, kUpscale, rgba.data(), rgba.size()), SVDQ_OK)
        << svdq_last_error_message();

    int linear = 0, clamped = 0;
    for (int64_t y = 0; y < kHeight * kUpscale; ++y)
        for (int64_t x = 0; x < kWidth * kUpscale; ++x) {
            const uint8_t* got = &rgba[static_cast<size_t>((y * kWidth * kUpscale + x) * 4)];
            for (int k = 0; k < 3; ++k) {
                double v = kBias[k];
                for (int64_t c = 0; c < kChannels; ++c)
                    v += packed[packed_index(kChannels, kWidth, c, y / kUpscale, x / kUpscale)] * kFactors[c][k];
                (v > -1.0 && v < 1.0 ? linear : clamped)++;
                EXPECT_EQ(got[k], reference_byte(v)) << "channel " << k << " at (" << y << ", " << x << ")";
            }
            EXPECT_EQ(got[3], 255) << "alpha at (" << y << ", " << x << ")";
        }
    EXPECT_GT(linear, clamped);  // of 3 * 432 values
    EXPECT_GT(clamped, 0);
}

TEST(CApiLatentPreview, FourChannelsStretchChannelsZeroToTwo) {
    // flux-tiny's 4 channels: R is channel 0, a ramp 0..7 over the 8 pixels
    // (stretched to bytes round(i * 255 / 7)), G channel 1, constant (128),
    // B channel 2, the ramp reversed; channel 3's large values must not show.
    constexpr int64_t kChannels = 4, kHeight = 2, kWidth = 4;
    std::vector<float> packed(kChannels * kHeight * kWidth);
    for (int64_t i = 0; i < kHeight * kWidth; ++i) {
        packed[packed_index(kChannels, kWidth, 0, i / kWidth, i % kWidth)] = static_cast<float>(i);
        packed[packed_index(kChannels, kWidth, 1, i / kWidth, i % kWidth)] = -0.5f;
        packed[packed_index(kChannels, kWidth, 2, i / kWidth, i % kWidth)] = static_cast<float>(-3 * i);
        packed[packed_index(kChannels, kWidth, 3, i / kWidth, i % kWidth)] = static_cast<float>(1000 * (i % 3));
    }
    WrappedTensor tensor(packed, {1, 2, 16});
    std::vector<uint8_t> rgba(kHeight * kWidth * 4);
    ASSERT_EQ(svdq_flux_latents_preview(tensor.t, kHeight, kWidth, 1, rgba.data(), rgba.size()), SVDQ_OK)
        << svdq_last_error_message();
    const int ramp[8] = {0, 36, 73, 109, 146, 182, 219, 255};
    for (int i = 0; i < 8; ++i) {
        EXPECT_EQ(rgba[4 * i + 0], ramp[i]) << i;
        EXPECT_EQ(rgba[4 * i + 1], 128) << i;
        EXPECT_EQ(rgba[4 * i + 2], ramp[7 - i]) << i;
        EXPECT_EQ(rgba[4 * i + 3], 255) << i;
    }
}

TEST(CApiLatentPreview, BadInputIsNamed) {
    std::vector<float> packed(2 * 64, 0.0f);  // 2 x 4 latents of 16 channels: 2 tokens
    WrappedTensor tensor(packed, {1, 2, 64});
    std::vector<uint8_t> rgba(2 * 4 * 4);
    const uint64_t n = rgba.size();
    expect_failure(svdq_flux_latents_preview(nullptr, 2, 4, 1, rgba.data(), n), SVDQ_ERROR_INVALID_ARGUMENT,
                   "packed_latents is NULL");
    expect_failure(svdq_flux_latents_preview(tensor.t, 2, 4, 1, nullptr, n), SVDQ_ERROR_INVALID_ARGUMENT,
                   "out_rgba is NULL");
    expect_failure(svdq_flux_latents_preview(tensor.t, 2, 4, 1, rgba.data(), n - 1), SVDQ_ERROR_SHAPE_MISMATCH,
                   "out_bytes is 31, a 4 x 2 RGBA8 preview needs 32");
    expect_failure(svdq_flux_latents_preview(tensor.t, 2, 4, 2, rgba.data(), n), SVDQ_ERROR_SHAPE_MISMATCH,
                   "out_bytes is 32, a 8 x 4 RGBA8 preview needs 128");
    expect_failure(svdq_flux_latents_preview(tensor.t, 4, 4, 1, rgba.data(), n), SVDQ_ERROR_SHAPE_MISMATCH,
                   "packed_latents has 2 tokens, a 4 x 4 latent image has 4");
    expect_failure(svdq_flux_latents_preview(tensor.t, 3, 4, 1, rgba.data(), n), SVDQ_ERROR_INVALID_ARGUMENT,
                   "latent height 3");
    expect_failure(svdq_flux_latents_preview(tensor.t, 2, 0, 1, rgba.data(), n), SVDQ_ERROR_INVALID_ARGUMENT,
                   "latent width 0");
    expect_failure(svdq_flux_latents_preview(tensor.t, 2, 4, 0, rgba.data(), n), SVDQ_ERROR_INVALID_ARGUMENT,
                   "preview upscale 0");
    expect_failure(svdq_flux_latents_preview(tensor.t, 2, 4, 9, rgba.data(), n), SVDQ_ERROR_INVALID_ARGUMENT,
                   "preview upscale 9");
    WrappedTensor flat(packed, {2, 64});
    expect_failure(svdq_flux_latents_preview(flat.t, 2, 4, 1, rgba.data(), n), SVDQ_ERROR_SHAPE_MISMATCH,
                   "packed_latents is [2, 64], it must be [1, S_img, 4 * latent channels]");
    std::vector<float> ragged_values(2 * 62, 0.0f);
    WrappedTensor ragged(ragged_values, {1, 2, 62});
    expect_failure(svdq_flux_latents_preview(ragged.t, 2, 4, 1, rgba.data(), n), SVDQ_ERROR_SHAPE_MISMATCH,
                   "packed_latents is [1, 2, 62]");
    WrappedTensor half(packed, {1, 2, 64}, SVDQ_DTYPE_F16);
    expect_failure(svdq_flux_latents_preview(half.t, 2, 4, 1, rgba.data(), n), SVDQ_ERROR_DTYPE,
                   "packed_latents must be F32, not F16");
}

// The bytes arrive whole; a symlink or directory target is refused by name and
// nothing (no temporary) is left beside it.
TEST(CApiFileWrite, WritesTheBytesAndRefusesWhatItMustNotReplace) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("svdq-file-write-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string bytes = std::string("\x89PNG\r\n\x1a\n", 8) + std::string(1000, 'x');
    const fs::path target = dir / "out.png";
    ASSERT_EQ(svdq_file_write(target.string().c_str(), bytes.data(), bytes.size()), SVDQ_OK) << svdq_last_error_message();
    {  // closed before the folder goes: Windows deletes no open file
        std::ifstream in(target, std::ios::binary);
        EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), bytes);
    }

#ifndef _WIN32  // symlinks need an administrator's right on Windows
    fs::create_symlink(target, dir / "link.png");
    expect_failure(svdq_file_write((dir / "link.png").string().c_str(), bytes.data(), 4), SVDQ_ERROR_IO, "link.png");
    constexpr int kEntries = 3;  // out.png, link.png, sub
#else
    constexpr int kEntries = 2;  // out.png, sub
#endif
    fs::create_directory(dir / "sub");
    expect_failure(svdq_file_write((dir / "sub").string().c_str(), bytes.data(), 4), SVDQ_ERROR_IO, "sub");
    expect_failure(svdq_file_write(target.string().c_str(), nullptr, 4), SVDQ_ERROR_INVALID_ARGUMENT,
                   "data is NULL with size_bytes 4");
    EXPECT_EQ(fs::file_size(target), bytes.size()) << "the refused writes left the file alone";
    EXPECT_EQ(entries_without_temporaries(dir), kEntries);
    fs::remove_all(dir);
}

// The check refuses what svdq_file_write refuses, and a folder that is not
// there, before any bytes exist; it changes nothing it is asked about.
TEST(CApiFileCheckWritable, AcceptsWhatCanBeWrittenAndRefusesTheRestByName) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("svdq-file-check-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const fs::path fresh = dir / "new.png", existing = dir / "old.png";
    { std::ofstream(existing, std::ios::binary) << "keep"; }

    EXPECT_EQ(svdq_file_check_writable(fresh.string().c_str()), SVDQ_OK) << svdq_last_error_message();
    EXPECT_EQ(svdq_file_check_writable(existing.string().c_str()), SVDQ_OK) << svdq_last_error_message();
    EXPECT_FALSE(fs::exists(fresh)) << "the check wrote no file";
    EXPECT_EQ(fs::file_size(existing), 4u) << "the check left the existing file alone";

    expect_failure(svdq_file_check_writable((dir / "missing" / "out.png").string().c_str()), SVDQ_ERROR_IO,
                   "the folder " + (dir / "missing").string() + " does not exist");
    fs::create_directory(dir / "sub");
    expect_failure(svdq_file_check_writable((dir / "sub").string().c_str()), SVDQ_ERROR_IO, "not a regular file");
#ifndef _WIN32  // symlinks need an administrator's right on Windows
    fs::create_symlink(existing, dir / "link.png");
    expect_failure(svdq_file_check_writable((dir / "link.png").string().c_str()), SVDQ_ERROR_IO, "symbolic link");
    constexpr int kEntries = 3;  // old.png, sub, link.png
#else
    constexpr int kEntries = 2;  // old.png, sub
#endif
    expect_failure(svdq_file_check_writable(nullptr), SVDQ_ERROR_INVALID_ARGUMENT, "path");
    EXPECT_EQ(entries_without_temporaries(dir), kEntries);
    fs::remove_all(dir);
}

}  // namespace
