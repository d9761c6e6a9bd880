// FLUX behind the generic model interface (models/model.h), and the checks
// of its named inputs shared with the FLUX-specific C entry points.
#pragma once

#include <memory>
#include <string>

#include "models/flux/flux_transformer.h"
#include "models/model.h"

namespace svdq {

// The names a FLUX forward takes, in the order of svdq_flux_inputs.
const std::vector<ModelInput>& flux_model_inputs(const FluxConfig& config);

// Every input checked against the config (F32, exact shapes, finite; names
// the model does not take are refused) and returned as a forward reads them.
FluxInputs flux_inputs(const FluxConfig& config, const NamedTensors& in);

// [batch, image tokens, patch^2 * out_channels] for checked inputs.
std::vector<int64_t> flux_output_shape(const FluxConfig& config, const FluxInputs& in);

class FluxModel final : public Model {
public:
    FluxModel(Context& ctx, const std::string& path, svdq_linear_scheme scheme);

    const FluxTransformer& transformer() const { return transformer_; }

    const char* family() const override { return "flux"; }
    const std::string& class_name() const override { return class_name_; }
    svdq_linear_scheme scheme() const override { return transformer_.block_scheme(); }
    svdq_number_format format() const override { return transformer_.block_format(); }
    int64_t parameter_count() const override { return transformer_.parameter_count(); }
    uint64_t weight_bytes() const override { return transformer_.weight_bytes(); }
    const std::vector<ModelInput>& inputs() const override { return flux_model_inputs(transformer_.config()); }
    std::vector<int64_t> output_shape(const NamedTensors& in) const override;
    void forward(Context& ctx, const NamedTensors& in, Tensor& out) const override;

private:
    std::string class_name_;
    FluxTransformer transformer_;
};

std::unique_ptr<Model> load_flux_model(Context& ctx, const std::string& path, svdq_linear_scheme scheme);

}  // namespace svdq
