#include "models/vae/vae_scaling.h"

#include <algorithm>
#include <cmath>

#include "sampling/noise.h"

namespace svdq {

void latents_to_vae(const VaeConfig& config, float* latents, size_t count) {
    const float scale = static_cast<float>(config.scaling_factor), shift = static_cast<float>(config.shift_factor);
    for (size_t i = 0; i < count; ++i) latents[i] = latents[i] / scale + shift;
}

void vae_to_latents(const VaeConfig& config, float* z, size_t count) {
    const float scale = static_cast<float>(config.scaling_factor), shift = static_cast<float>(config.shift_factor);
    for (size_t i = 0; i < count; ++i) z[i] = (z[i] - shift) * scale;
}

std::vector<float> sample_posterior(const float* mean, const float* logvar, size_t count, uint64_t seed) {
    std::vector<float> z = GaussianNoise(seed, kVaeSampleStream).generate(count);
    for (size_t i = 0; i < count; ++i) z[i] = mean[i] + std::exp(0.5f * logvar[i]) * z[i];
    return z;
}

std::vector<uint8_t> image_to_8bit(const float* image, int64_t channels, int64_t height, int64_t width) {
    const int64_t pixels = height * width;
    std::vector<uint8_t> bytes(static_cast<size_t>(channels * pixels));
    for (int64_t c = 0; c < channels; ++c)
        for (int64_t p = 0; p < pixels; ++p) {
            const float v = std::clamp(image[c * pixels + p] / 2.0f + 0.5f, 0.0f, 1.0f) * 255.0f;
            bytes[static_cast<size_t>(p * channels + c)] = static_cast<uint8_t>(std::nearbyint(v));  // round half to even
        }
    return bytes;
}

}  // namespace svdq
