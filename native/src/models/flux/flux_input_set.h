// FLUX forward inputs that own their values: read from a safetensors file with
// the keys of `svdquant flux forward` (hidden_states, encoder_hidden_states,
// pooled_projections, timestep, optional guidance, img_ids, txt_ids), or made
// up for calibration when the user has no recorded inputs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/safetensors_file.h"
#include "models/flux/flux_config.h"
#include "models/flux/flux_embeddings.h"

namespace svdq {

struct FluxInputSet {
    int64_t batch = 0, img_tokens = 0, txt_tokens = 0;
    std::vector<float> hidden_states, encoder_hidden_states, pooled_projections, timestep, guidance, img_ids, txt_ids;

    // A view for FluxTransformer::forward; valid while this set lives.
    FluxInputs view() const;
};

// Every tensor checked against the config (float dtypes widen to fp32);
// errors name the file and the tensor.
FluxInputSet read_flux_inputs(const SafeTensorsFile& file, const FluxConfig& config);

// Calibration inputs when none are recorded: `batch` samples of a 16 x 16
// latent grid (256 image tokens) and 64 text tokens, Gaussian latents and
// text states, timesteps spread over (0, 1], guidance 3.5. Real prompts'
// text-encoder states calibrate better (see `svdquant quantize --calib`).
FluxInputSet synthetic_flux_inputs(const FluxConfig& config, int64_t batch, uint64_t seed);

}  // namespace svdq
