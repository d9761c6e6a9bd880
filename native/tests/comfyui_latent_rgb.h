// ComfyUI's latent-to-RGB preview definition, written out again for tests:
// class Flux's latent_rgb_factors / latent_rgb_factors_bias
// (comfy/latent_formats.py in comfyanonymous/ComfyUI) and preview_to_image's
// byte mapping (clamp to [-1, 1], (v + 1) * 127.5, round half to even), plus
// diffusers' _pack_latents layout as index arithmetic and test latents. Standalone (no engine
// headers) so the unit tests and the C API tests share it.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace comfyui_reference {

constexpr double kFactors[16][3] = {
    {-0.0346, 0.0244, 0.0681},  {0.0034, 0.0210, 0.0687},   {0.0275, -0.0668, -0.0433}, {-0.0174, 0.0160, 0.0617},
    {0.0859, 0.0721, 0.0329},   {0.0004, 0.0383, 0.0115},   {0.0405, 0.0861, 0.0915},   {-0.0236, -0.0185, -0.0259},
    {-0.0245, 0.0250, 0.1180},  {0.1008, 0.0755, -0.0421},  {-0.0515, 0.0201, 0.0011},  {0.0428, -0.0012, -0.0036},
    {0.0817, 0.0765, 0.0749},   {-0.1264, -0.0522, -0.1103}, {-0.0280, -0.0881, -0.0499}, {-0.1262, -0.0982, -0.0778},
};
constexpr double kBias[3] = {-0.0329, -0.0718, -0.0851};

inline uint8_t reference_byte(double v) {
    if (std::isnan(v)) return 0;
    v = v < -1.0 ? -1.0 : (v > 1.0 ? 1.0 : v);
    return static_cast<uint8_t>(std::nearbyint((v + 1.0) * 127.5));
}

// Index of latent[ch, y, x] in the packed tokens [S_img, 4C] of a latent image `width` wide.
inline size_t packed_index(int64_t channels, int64_t width, int64_t ch, int64_t y, int64_t x) {
    const int64_t token = (y / 2) * (width / 2) + x / 2;
    return static_cast<size_t>(token * 4 * channels + ch * 4 + (y % 2) * 2 + x % 2);
}

// Deterministic test latents in [-amplitude, amplitude] (a linear congruential generator).
inline std::vector<float> pseudo_random(size_t count, double amplitude, uint32_t seed) {
    std::vector<float> v(count);
    for (auto& x : v) {
        seed = seed * 1664525u + 1013904223u;
        x = static_cast<float>(amplitude * (2.0 * (seed >> 8) / 16777216.0 - 1.0));
    }
    return v;
}

}  // namespace comfyui_reference
