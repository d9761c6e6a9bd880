#include "sampling/latent_preview.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"

namespace svdq {

namespace {

// ComfyUI's class Flux in comfy/latent_formats.py (comfyanonymous/ComfyUI):
// latent_rgb_factors [16][3] (one row per latent channel, columns R G B) and
// latent_rgb_factors_bias [3]; scale_factor 0.3611, shift_factor 0.1159 are
// the model-space mapping the factors assume (see the header).
constexpr int kFluxChannels = 16;
constexpr double kFluxRgbFactors[kFluxChannels][3] = {
    {-0.0346, 0.0244, 0.0681},  {0.0034, 0.0210, 0.0687},   {0.0275, -0.0668, -0.0433}, {-0.0174, 0.0160, 0.0617},
    {0.0859, 0.0721, 0.0329},   {0.0004, 0.0383, 0.0115},   {0.0405, 0.0861, 0.0915},   {-0.0236, -0.0185, -0.0259},
    {-0.0245, 0.0250, 0.1180},  {0.1008, 0.0755, -0.0421},  {-0.0515, 0.0201, 0.0011},  {0.0428, -0.0012, -0.0036},
    {0.0817, 0.0765, 0.0749},   {-0.1264, -0.0522, -0.1103}, {-0.0280, -0.0881, -0.0499}, {-0.1262, -0.0982, -0.0778},
};
constexpr double kFluxRgbBias[3] = {-0.0329, -0.0718, -0.0851};

constexpr int64_t kMaxSide = 8192, kMaxChannels = 4096;  // flux_latent_shape's limits in latent pixels

// latent_preview.py's preview_to_image: clamp, shift to [0, 2], * 127.5, round.
uint8_t to_byte(double v) {
    if (std::isnan(v)) return 0;
    return static_cast<uint8_t>(std::nearbyint((std::clamp(v, -1.0, 1.0) + 1.0) * 127.5));
}

void require_side(int64_t side, const char* what) {
    require(side >= 2 && side <= kMaxSide && side % 2 == 0, SVDQ_ERROR_INVALID_ARGUMENT,
            std::string("latent ") + what + " " + std::to_string(side) + " is not even in [2, " +
                std::to_string(kMaxSide) + "]: FLUX latents are whole 2x2 patches");
}

// [C, H, W] -> the three display planes [3, H, W] in [-1, 1] (before clamping).
std::vector<double> flux_rgb_planes(const std::vector<float>& latents, int64_t pixels) {
    std::vector<double> rgb(static_cast<size_t>(3 * pixels));
    for (int k = 0; k < 3; ++k)
        for (int64_t p = 0; p < pixels; ++p) {
            double sum = kFluxRgbBias[k];
            for (int c = 0; c < kFluxChannels; ++c)
                sum += static_cast<double>(latents[static_cast<size_t>(c * pixels + p)]) * kFluxRgbFactors[c][k];
            rgb[static_cast<size_t>(k * pixels + p)] = sum;
        }
    return rgb;
}

// The fallback for channel counts without factors (see the header).
std::vector<double> stretched_channel_planes(const std::vector<float>& latents, int64_t channels, int64_t pixels) {
    std::vector<double> rgb(static_cast<size_t>(3 * pixels));
    for (int64_t k = 0; k < 3; ++k) {
        const float* plane = latents.data() + std::min(k, channels - 1) * pixels;
        double lo = std::numeric_limits<double>::infinity(), hi = -lo;
        for (int64_t p = 0; p < pixels; ++p)
            if (std::isfinite(plane[p])) {
                lo = std::min(lo, static_cast<double>(plane[p]));
                hi = std::max(hi, static_cast<double>(plane[p]));
            }
        const double range = hi - lo;
        for (int64_t p = 0; p < pixels; ++p)
            rgb[static_cast<size_t>(k * pixels + p)] = range > 0.0 ? 2.0 * (plane[p] - lo) / range - 1.0 : 0.0;
    }
    return rgb;
}

}  // namespace

LatentPreview latent_preview_rgba(const std::vector<float>& packed, const FluxLatentShape& shape, int upscale) {
    require(shape.channels >= 1 && shape.channels <= kMaxChannels, SVDQ_ERROR_INVALID_ARGUMENT,
            "latent channels " + std::to_string(shape.channels) + " is outside [1, " + std::to_string(kMaxChannels) +
                "]");
    require_side(shape.height, "height");
    require_side(shape.width, "width");
    require(upscale >= 1 && upscale <= kMaxPreviewUpscale, SVDQ_ERROR_INVALID_ARGUMENT,
            "preview upscale " + std::to_string(upscale) + " is outside [1, " + std::to_string(kMaxPreviewUpscale) +
                "]");
    const std::vector<float> latents = unpack_latents(packed, shape);  // checks the size

    const int64_t pixels = shape.height * shape.width;
    const std::vector<double> rgb = shape.channels == kFluxChannels
                                        ? flux_rgb_planes(latents, pixels)
                                        : stretched_channel_planes(latents, shape.channels, pixels);

    LatentPreview preview;
    preview.width = shape.width * upscale;
    preview.height = shape.height * upscale;
    preview.rgba.resize(static_cast<size_t>(preview.width * preview.height * 4));
    for (int64_t y = 0; y < preview.height; ++y)
        for (int64_t x = 0; x < preview.width; ++x) {
            const int64_t source = (y / upscale) * shape.width + x / upscale;
            uint8_t* out = &preview.rgba[static_cast<size_t>((y * preview.width + x) * 4)];
            for (int64_t k = 0; k < 3; ++k) out[k] = to_byte(rgb[static_cast<size_t>(k * pixels + source)]);
            out[3] = 255;
        }
    return preview;
}

}  // namespace svdq
