#include "models/flux/flux_input_set.h"

#include <random>

#include "core/error.h"
#include "core/tensor.h"

namespace svdq {

namespace {

constexpr int64_t kSyntheticGrid = 16;
constexpr int64_t kSyntheticTextTokens = 64;
constexpr float kSyntheticGuidance = 3.5f;

std::vector<float> read_input(const SafeTensorsFile& file, const std::string& name, const std::vector<int64_t>& shape) {
    const TensorEntry& t = file.at(name);
    require(t.shape == shape, SVDQ_ERROR_SHAPE_MISMATCH,
            file.describe(t) + " has shape " + t.shape_string() + ", expected " + shape_string(shape));
    return file.read_f32(t);
}

std::vector<float> gaussian(size_t count, std::mt19937_64& rng) {
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> v(count);
    for (float& x : v) x = dist(rng);
    return v;
}

}  // namespace

FluxInputs FluxInputSet::view() const {
    FluxInputs in;
    in.batch = batch;
    in.img_tokens = img_tokens;
    in.txt_tokens = txt_tokens;
    in.hidden_states = hidden_states.data();
    in.encoder_hidden_states = encoder_hidden_states.data();
    in.pooled_projections = pooled_projections.data();
    in.timestep = timestep.data();
    in.guidance = guidance.empty() ? nullptr : guidance.data();
    in.img_ids = img_ids.data();
    in.txt_ids = txt_ids.data();
    return in;
}

FluxInputSet read_flux_inputs(const SafeTensorsFile& file, const FluxConfig& c) {
    const TensorEntry& hidden = file.at("hidden_states");
    const TensorEntry& text = file.at("encoder_hidden_states");
    require(hidden.shape.size() == 3 && text.shape.size() == 3, SVDQ_ERROR_SHAPE_MISMATCH,
            file.path() + ": hidden_states " + hidden.shape_string() + " and encoder_hidden_states " + text.shape_string() +
                " must be 3-D [batch, tokens, channels]");
    FluxInputSet s;
    s.batch = hidden.shape[0];
    s.img_tokens = hidden.shape[1];
    s.txt_tokens = text.shape[1];
    s.hidden_states = read_input(file, "hidden_states", {s.batch, s.img_tokens, c.input_features()});
    s.encoder_hidden_states = read_input(file, "encoder_hidden_states", {s.batch, s.txt_tokens, c.joint_attention_dim});
    s.pooled_projections = read_input(file, "pooled_projections", {s.batch, c.pooled_projection_dim});
    s.timestep = read_input(file, "timestep", {s.batch});
    if (c.guidance_embeds || file.find("guidance") != nullptr) s.guidance = read_input(file, "guidance", {s.batch});
    s.img_ids = read_input(file, "img_ids", {s.img_tokens, 3});
    s.txt_ids = read_input(file, "txt_ids", {s.txt_tokens, 3});
    return s;
}

FluxInputSet synthetic_flux_inputs(const FluxConfig& c, int64_t batch, uint64_t seed) {
    require(batch > 0, SVDQ_ERROR_INVALID_ARGUMENT, "synthetic calibration needs at least one sample");
    std::mt19937_64 rng(seed);
    FluxInputSet s;
    s.batch = batch;
    s.img_tokens = kSyntheticGrid * kSyntheticGrid;
    s.txt_tokens = kSyntheticTextTokens;
    s.hidden_states = gaussian(static_cast<size_t>(batch * s.img_tokens * c.input_features()), rng);
    s.encoder_hidden_states = gaussian(static_cast<size_t>(batch * s.txt_tokens * c.joint_attention_dim), rng);
    s.pooled_projections = gaussian(static_cast<size_t>(batch * c.pooled_projection_dim), rng);
    for (int64_t b = 0; b < batch; ++b) s.timestep.push_back(static_cast<float>(batch - b) / static_cast<float>(batch));
    if (c.guidance_embeds) s.guidance.assign(static_cast<size_t>(batch), kSyntheticGuidance);
    // Image ids are (0, row, column) of the latent grid; text ids are zero, as FluxPipeline makes them.
    for (int64_t r = 0; r < kSyntheticGrid; ++r)
        for (int64_t col = 0; col < kSyntheticGrid; ++col)
            s.img_ids.insert(s.img_ids.end(), {0.0f, static_cast<float>(r), static_cast<float>(col)});
    s.txt_ids.assign(static_cast<size_t>(s.txt_tokens * 3), 0.0f);
    return s;
}

}  // namespace svdq
