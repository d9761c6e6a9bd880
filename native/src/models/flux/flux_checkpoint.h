// Where a FLUX transformer's weights come from (given a pipeline folder, its
// transformer/): a diffusers folder
// (config.json plus the shards its diffusion_pytorch_model.safetensors.index.json
// names, else diffusion_pytorch_model*.safetensors, or any *.safetensors when
// none has that name; BF16/F16/F32) or one
// safetensors file whose __metadata__ "config" holds the diffusers config (a
// Nunchaku SVDQ checkpoint, or one `svdquant quantize` wrote). Tensors are
// looked up by name across the files.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "formats/safetensors_set.h"
#include "models/flux/flux_config.h"

namespace svdq {

class FluxCheckpoint {
public:
    explicit FluxCheckpoint(const std::string& path);

    const FluxConfig& config() const { return config_; }
    const std::string& path() const { return path_; }
    // The diffusers config JSON as the checkpoint gives it.
    const std::string& config_text() const { return config_text_; }

    // The file holding `name`, or NULL when no file has it.
    const SafeTensorsFile* file_with(const std::string& name) const { return tensors_->file_with(name); }
    bool contains(const std::string& name) const { return tensors_->contains(name); }
    // Every tensor name of every file.
    std::vector<std::string> tensor_names() const { return tensors_->tensor_names(); }
    // SVDQ_ERROR_FORMAT naming the checkpoint and (up to 8 of) the tensors no
    // loader read: a config that disagrees with its weights (fewer layers,
    // guidance_embeds false with guidance weights) must not run silently.
    // With `among`, only the tensors it accepts are considered.
    void require_all_read(bool (*among)(const std::string& name) = nullptr) const { tensors_->require_all_read(among); }

    // The tensor `name` as float, checked to have `shape`; errors name the
    // file (or the checkpoint, when no file has it) and the tensor.
    std::vector<float> read(const std::string& name, const std::vector<int64_t>& shape) const {
        return tensors_->read(name, shape);
    }

private:
    std::string path_;
    std::string config_text_;
    FluxConfig config_;
    std::unique_ptr<SafeTensorsSet> tensors_;
};

}  // namespace svdq
