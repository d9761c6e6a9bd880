#include "models/flux/flux_model.h"

#include "core/error.h"
#include "models/model_registry.h"

namespace svdq {

namespace {

// An F32 tensor of exactly `shape`; the message names it.
const Tensor& f32_tensor(const Tensor* t, const char* name, std::initializer_list<int64_t> shape) {
    require(t != nullptr, SVDQ_ERROR_INVALID_ARGUMENT, std::string(name) + " is NULL (a required input)");
    require(t->dtype() == SVDQ_DTYPE_F32, SVDQ_ERROR_DTYPE, std::string(name) + " must be F32, not " + dtype_name(t->dtype()));
    require_shape(*t, shape, name);
    return *t;
}

// An input: F32, exactly `shape`, every value finite (a NaN position id or
// timestep would otherwise turn the whole output into NaN without an error).
const float* input(const NamedTensors& in, const char* name, std::initializer_list<int64_t> shape) {
    const Tensor& tensor = f32_tensor(find_input(in, name), name, shape);
    require_finite(tensor.f32(), static_cast<size_t>(tensor.numel()), name);
    return tensor.f32();
}

}  // namespace

const std::vector<ModelInput>& flux_model_inputs(const FluxConfig& config) {
    static const std::vector<ModelInput> with_guidance{
        {"hidden_states", true}, {"encoder_hidden_states", true}, {"pooled_projections", true}, {"timestep", true},
        {"guidance", true},      {"img_ids", true},               {"txt_ids", true}};
    static const std::vector<ModelInput> without_guidance{
        {"hidden_states", true}, {"encoder_hidden_states", true}, {"pooled_projections", true}, {"timestep", true},
        {"guidance", false},     {"img_ids", true},               {"txt_ids", true}};
    return config.guidance_embeds ? with_guidance : without_guidance;
}

FluxInputs flux_inputs(const FluxConfig& c, const NamedTensors& in) {
    const std::vector<ModelInput>& names = flux_model_inputs(c);
    for (const NamedTensor& t : in) {
        bool known = false;
        for (const ModelInput& n : names) known = known || t.name == n.name;
        require(known, SVDQ_ERROR_INVALID_ARGUMENT,
                "FLUX takes no input '" + std::string(t.name) +
                    "' (hidden_states, encoder_hidden_states, pooled_projections, timestep, guidance, img_ids, txt_ids)");
    }
    const Tensor* hidden = find_input(in, "hidden_states");
    const Tensor* context = find_input(in, "encoder_hidden_states");
    require(hidden != nullptr, SVDQ_ERROR_INVALID_ARGUMENT, "hidden_states is NULL (a required input)");
    require(context != nullptr, SVDQ_ERROR_INVALID_ARGUMENT, "encoder_hidden_states is NULL (a required input)");
    require(hidden->ndim() == 3 && context->ndim() == 3, SVDQ_ERROR_SHAPE_MISMATCH,
            "hidden_states " + hidden->shape_string() + " and encoder_hidden_states " + context->shape_string() +
                " must be 3-D [batch, tokens, channels]");
    const int64_t batch = hidden->dim(0), img = hidden->dim(1), txt = context->dim(1);
    FluxInputs f;
    f.batch = batch;
    f.img_tokens = img;
    f.txt_tokens = txt;
    f.hidden_states = input(in, "hidden_states", {batch, img, c.input_features()});
    f.encoder_hidden_states = input(in, "encoder_hidden_states", {batch, txt, c.joint_attention_dim});
    f.pooled_projections = input(in, "pooled_projections", {batch, c.pooled_projection_dim});
    f.timestep = input(in, "timestep", {batch});
    if (c.guidance_embeds || find_input(in, "guidance") != nullptr) f.guidance = input(in, "guidance", {batch});
    f.img_ids = input(in, "img_ids", {img, 3});
    f.txt_ids = input(in, "txt_ids", {txt, 3});
    return f;
}

std::vector<int64_t> flux_output_shape(const FluxConfig& config, const FluxInputs& in) {
    return {in.batch, in.img_tokens, config.output_features()};
}

FluxModel::FluxModel(Context& ctx, const std::string& path, svdq_linear_scheme scheme)
    : class_name_(declared_model_class(path)), transformer_(ctx, FluxCheckpoint(path), scheme) {}

std::vector<int64_t> FluxModel::output_shape(const NamedTensors& in) const {
    return flux_output_shape(transformer_.config(), flux_inputs(transformer_.config(), in));
}

void FluxModel::forward(Context& ctx, const NamedTensors& in, Tensor& out) const {
    const FluxInputs f = flux_inputs(transformer_.config(), in);
    transformer_.forward(ctx, f, f32_output(out, flux_output_shape(transformer_.config(), f), "out"));
}

std::unique_ptr<Model> load_flux_model(Context& ctx, const std::string& path, svdq_linear_scheme scheme) {
    return std::make_unique<FluxModel>(ctx, path, scheme);
}

}  // namespace svdq
