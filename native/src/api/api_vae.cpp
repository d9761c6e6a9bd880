#include <algorithm>
#include <string>
#include <vector>

#include "api/api_guard.h"
#include "backend/context.h"
#include "core/tensor.h"
#include "models/vae/autoencoder_kl.h"
#include "models/vae/vae_scaling.h"
#include "pipelines/flux_vae.h"

using namespace svdq;

struct svdq_vae : AutoencoderKL {
    using AutoencoderKL::AutoencoderKL;
};

namespace {

// The input tensor `name`: F32 of rank 4 with finite values.
const Tensor& image_input(const svdq_tensor* t, const char* name) {
    const Tensor& tensor = deref(t, name);
    require(tensor.dtype() == SVDQ_DTYPE_F32, SVDQ_ERROR_DTYPE, std::string(name) + " must be F32, not " + dtype_name(tensor.dtype()));
    require(tensor.ndim() == 4, SVDQ_ERROR_SHAPE_MISMATCH,
            std::string(name) + " is " + tensor.shape_string() + ", it must be [batch, channels, height, width]");
    require_finite(tensor.f32(), static_cast<size_t>(tensor.numel()), name);
    return tensor;
}

// The caller's options mapped onto the model's tiling for an image of
// `height` x `width` pixels (svdq_vae_tiling).
VaeTiling tiling_for(const AutoencoderKL& vae, const svdq_vae_options* options, int64_t height, int64_t width) {
    svdq_vae_options o;
    svdq_vae_options_init(&o);
    if (options != nullptr) o = read_versioned(*options, o, "svdq_vae_options");
    VaeTiling tiling;
    tiling.tile_sample_size = o.tile_sample_size;
    vae.tile_sample_size(tiling);  // checks tile_sample_size whatever the mode
    switch (o.tiling) {
        case SVDQ_VAE_TILING_AUTO: tiling.automatic = std::max(height, width) > vae.tile_sample_size(VaeTiling{}); break;
        case SVDQ_VAE_TILING_ALWAYS: tiling.automatic = true; break;
        case SVDQ_VAE_TILING_NEVER: tiling.automatic = false; break;
        default:
            fail(SVDQ_ERROR_INVALID_ARGUMENT, "options->tiling " + std::to_string(o.tiling) +
                                                  " is not an svdq_vae_tiling (0 AUTO, 1 ALWAYS, 2 NEVER)");
    }
    return tiling;
}

}  // namespace

extern "C" {

SVDQ_API svdq_status svdq_vae_options_init(svdq_vae_options* options) {
    return guarded(__func__, [&] {
        svdq_vae_options& o = deref(options, "options");
        o = svdq_vae_options{};
        o.struct_size = sizeof(svdq_vae_options);
        o.tiling = SVDQ_VAE_TILING_AUTO;
    });
}

SVDQ_API svdq_status svdq_vae_load(svdq_context* context, const char* path, svdq_vae** out_vae) {
    return guarded(__func__, [&] {
        svdq_vae*& out = deref(out_vae, "out_vae");
        out = nullptr;
        const ContextCall call(context);
        deref(path, "path");
        out = new svdq_vae(call.context(), path);
    });
}

SVDQ_API svdq_status svdq_vae_destroy(svdq_vae* vae) {
    return guarded(__func__, [&] { delete vae; });
}

SVDQ_API svdq_status svdq_vae_get_info(const svdq_vae* vae, svdq_vae_info* out_info) {
    return guarded(__func__, [&] {
        const svdq_vae& v = deref(vae, "vae");
        const VaeConfig& c = v.config();
        svdq_vae_info info{};
        info.in_channels = static_cast<int32_t>(c.in_channels);
        info.out_channels = static_cast<int32_t>(c.out_channels);
        info.latent_channels = static_cast<int32_t>(c.latent_channels);
        info.downscale = static_cast<int32_t>(c.downscale());
        info.sample_size = static_cast<int32_t>(c.sample_size);
        info.scaling_factor = c.scaling_factor;
        info.shift_factor = c.shift_factor;
        info.parameter_count = v.parameter_count();
        info.weight_bytes = static_cast<uint64_t>(v.parameter_count()) * sizeof(float);
        write_versioned(deref(out_info, "out_info"), info, "svdq_vae_info");
    });
}

SVDQ_API svdq_status svdq_vae_decode(svdq_context* context, const svdq_vae* vae, const svdq_vae_options* options,
                                     const svdq_tensor* latents, svdq_tensor* out_image) {
    return guarded(__func__, [&] {
        const ContextCall call(context);
        const svdq_vae& v = deref(vae, "vae");
        const Tensor& z = image_input(latents, "latents");
        const std::vector<int64_t> shape = v.decoded_shape(z.shape());
        float* image = f32_output(deref(out_image, "out_image"), shape, "out_image");
        v.decode(call.context(), z.f32(), z.shape(), image, tiling_for(v, options, shape[2], shape[3]));
    });
}

SVDQ_API svdq_status svdq_vae_encode(svdq_context* context, const svdq_vae* vae, const svdq_vae_options* options,
                                     const svdq_tensor* image, svdq_tensor* out_mean, svdq_tensor* out_logvar) {
    return guarded(__func__, [&] {
        const ContextCall call(context);
        const svdq_vae& v = deref(vae, "vae");
        const Tensor& x = image_input(image, "image");
        const std::vector<int64_t> shape = v.encoded_shape(x.shape());
        float* mean = f32_output(deref(out_mean, "out_mean"), shape, "out_mean");
        float* logvar = f32_output(deref(out_logvar, "out_logvar"), shape, "out_logvar");
        v.encode(call.context(), x.f32(), x.shape(), mean, logvar, tiling_for(v, options, x.dim(2), x.dim(3)));
    });
}

SVDQ_API svdq_status svdq_flux_latents_decode(svdq_context* context, const svdq_vae* vae, const svdq_vae_options* options,
                                              const svdq_tensor* packed_latents, int32_t latent_height, int32_t latent_width,
                                              svdq_tensor* out_image) {
    return guarded(__func__, [&] {
        const ContextCall call(context);
        const svdq_vae& v = deref(vae, "vae");
        const Tensor& packed = deref(packed_latents, "packed_latents");
        require(packed.dtype() == SVDQ_DTYPE_F32, SVDQ_ERROR_DTYPE,
                std::string("packed_latents must be F32, not ") + dtype_name(packed.dtype()));
        require(packed.ndim() == 3 && packed.dim(0) == 1, SVDQ_ERROR_SHAPE_MISMATCH,
                "packed_latents is " + packed.shape_string() + ", it must be [1, S_img, 4 * latent channels]");
        const FluxLatentShape shape = flux_vae_latent_shape(v, packed.dim(1), packed.dim(2), latent_height, latent_width);
        require_finite(packed.f32(), static_cast<size_t>(packed.numel()), "packed_latents");
        const int64_t s = v.config().downscale(), height = s * shape.height, width = s * shape.width;
        float* image = f32_output(deref(out_image, "out_image"), {1, v.config().out_channels, height, width}, "out_image");
        decode_flux_latents(call.context(), v, std::vector<float>(packed.f32(), packed.f32() + packed.numel()), shape, image,
                            tiling_for(v, options, height, width));
    });
}

SVDQ_API svdq_status svdq_flux_image_encode(svdq_context* context, const svdq_vae* vae, const svdq_vae_options* options,
                                            const svdq_tensor* image, int32_t sample, uint64_t seed,
                                            svdq_tensor* out_packed_latents) {
    return guarded(__func__, [&] {
        const ContextCall call(context);
        const svdq_vae& v = deref(vae, "vae");
        const Tensor& x = image_input(image, "image");
        require(x.dim(0) == 1, SVDQ_ERROR_SHAPE_MISMATCH, "image is " + x.shape_string() + ", batch 1 is encoded to init latents");
        require(sample == 0 || sample == 1, SVDQ_ERROR_INVALID_ARGUMENT,
                "sample " + std::to_string(sample) + " must be 0 (the posterior's mode) or 1 (a seeded sample)");
        const FluxLatentShape shape = flux_vae_image_shape(v, x.dim(1), x.dim(2), x.dim(3));
        float* out = f32_output(deref(out_packed_latents, "out_packed_latents"), {1, shape.tokens(), shape.token_features()},
                                "out_packed_latents");
        const std::vector<float> packed = encode_flux_image(call.context(), v, x.f32(), shape, FluxImageEncoding{sample == 1, seed},
                                                            tiling_for(v, options, x.dim(2), x.dim(3)));
        std::copy(packed.begin(), packed.end(), out);
    });
}

SVDQ_API svdq_status svdq_image_to_rgba8(const svdq_tensor* image, uint8_t* out_rgba, uint64_t out_bytes) {
    return guarded(__func__, [&] {
        const Tensor& x = image_input(image, "image");
        deref(out_rgba, "out_rgba");
        require(x.dim(0) == 1 && x.dim(1) == 3, SVDQ_ERROR_SHAPE_MISMATCH, "image is " + x.shape_string() + ", it must be [1, 3, H, W]");
        const int64_t pixels = x.dim(2) * x.dim(3);
        require(out_bytes == static_cast<uint64_t>(pixels) * 4, SVDQ_ERROR_SHAPE_MISMATCH,
                "out_bytes is " + std::to_string(out_bytes) + ", a " + std::to_string(x.dim(3)) + " x " + std::to_string(x.dim(2)) +
                    " RGBA8 image needs " + std::to_string(pixels * 4));
        const std::vector<uint8_t> rgb = image_to_8bit(x.f32(), 3, x.dim(2), x.dim(3));
        for (int64_t p = 0; p < pixels; ++p) {
            std::copy_n(rgb.begin() + p * 3, 3, out_rgba + p * 4);
            out_rgba[p * 4 + 3] = 255;
        }
    });
}

}  // extern "C"
