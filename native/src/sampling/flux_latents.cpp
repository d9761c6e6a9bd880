#include "sampling/flux_latents.h"

#include <string>

#include "core/error.h"
#include "sampling/flow_schedule.h"

namespace svdq {

namespace {

constexpr int64_t kMaxPixels = 65536, kMaxChannels = 4096;

int64_t latent_side(int64_t pixels, const char* what) {
    require(pixels >= 16 && pixels <= kMaxPixels, SVDQ_ERROR_INVALID_ARGUMENT,
            std::string(what) + " " + std::to_string(pixels) + " is outside [16, " + std::to_string(kMaxPixels) +
                "] pixels: FLUX needs at least one 2x2 patch of 8x8-pixel latents");
    return 2 * (pixels / 16);
}

void require_size(const std::vector<float>& values, int64_t expected, const char* what) {
    require(values.size() == static_cast<size_t>(expected), SVDQ_ERROR_SHAPE_MISMATCH,
            std::string(what) + " has " + std::to_string(values.size()) + " values, the latent shape needs " +
                std::to_string(expected));
}

// Calls f(latent index, packed index) for every element.
template <typename F>
void for_each_patch_element(const FluxLatentShape& shape, F&& f) {
    const int64_t half_w = shape.width / 2, features = shape.token_features();
    for (int64_t ch = 0; ch < shape.channels; ++ch)
        for (int64_t y = 0; y < shape.height; ++y)
            for (int64_t x = 0; x < shape.width; ++x) {
                const int64_t token = (y / 2) * half_w + x / 2;
                const int64_t feature = ch * 4 + (y % 2) * 2 + x % 2;
                f(static_cast<size_t>((ch * shape.height + y) * shape.width + x),
                  static_cast<size_t>(token * features + feature));
            }
}

}  // namespace

FluxLatentShape flux_latent_shape(int64_t pixel_width, int64_t pixel_height, int64_t channels) {
    require(channels >= 1 && channels <= kMaxChannels, SVDQ_ERROR_INVALID_ARGUMENT,
            "latent channels " + std::to_string(channels) + " is outside [1, " + std::to_string(kMaxChannels) + "]");
    FluxLatentShape shape;
    shape.channels = channels;
    shape.width = latent_side(pixel_width, "width");
    shape.height = latent_side(pixel_height, "height");
    return shape;
}

std::vector<float> pack_latents(const std::vector<float>& latents, const FluxLatentShape& shape) {
    require_size(latents, shape.numel(), "the latents to pack");
    std::vector<float> tokens(latents.size());
    for_each_patch_element(shape, [&](size_t latent, size_t packed) { tokens[packed] = latents[latent]; });
    return tokens;
}

std::vector<float> unpack_latents(const std::vector<float>& tokens, const FluxLatentShape& shape) {
    require_size(tokens, shape.numel(), "the packed latents");
    std::vector<float> latents(tokens.size());
    for_each_patch_element(shape, [&](size_t latent, size_t packed) { latents[latent] = tokens[packed]; });
    return latents;
}

std::vector<float> flux_image_ids(const FluxLatentShape& shape) {
    const int64_t rows = shape.height / 2, cols = shape.width / 2;
    std::vector<float> ids(static_cast<size_t>(rows * cols * 3), 0.0f);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
            const auto token = static_cast<size_t>(r * cols + c);
            ids[token * 3 + 1] = static_cast<float>(r);
            ids[token * 3 + 2] = static_cast<float>(c);
        }
    return ids;
}

std::vector<float> flux_text_ids(int64_t text_tokens) {
    require(text_tokens >= 0, SVDQ_ERROR_INVALID_ARGUMENT,
            "text token count " + std::to_string(text_tokens) + " is negative");
    return std::vector<float>(static_cast<size_t>(text_tokens * 3), 0.0f);
}

void inpaint_blend(std::vector<float>& latents, const std::vector<float>& original, const std::vector<float>& noise,
                   const std::vector<float>& mask, float sigma_next) {
    const auto n = static_cast<int64_t>(latents.size());
    require_size(original, n, "the original latents");
    require_size(noise, n, "the noise");
    require_size(mask, n, "the inpainting mask");
    std::vector<float> source(latents.size());
    scale_noise(original.data(), noise.data(), sigma_next, source.data(), source.size());
    for (size_t i = 0; i < latents.size(); ++i) latents[i] = (1.0f - mask[i]) * source[i] + mask[i] * latents[i];
}

}  // namespace svdq
