// Where a VAE's weights come from: a diffusers AutoencoderKL folder
// (config.json + diffusion_pytorch_model.safetensors; F32, F16 or BF16) or a
// pipeline folder holding one as vae/ (FLUX.1 as published).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "formats/safetensors_file.h"
#include "models/vae/vae_config.h"

namespace svdq {

class VaeCheckpoint {
public:
    explicit VaeCheckpoint(const std::string& path);

    const VaeConfig& config() const { return config_; }
    const std::string& folder() const { return folder_; }
    // Every tensor of the weights file is a parameter (require_all_read refuses unused ones).
    int64_t parameter_count() const;

    // The tensor `name` as float, checked to have `shape`: SVDQ_ERROR_FORMAT
    // naming the file and tensor when it is missing, SVDQ_ERROR_SHAPE_MISMATCH
    // with the shape found and the one the config needs.
    std::vector<float> read(const std::string& name, const std::vector<int64_t>& shape) const;
    // SVDQ_ERROR_FORMAT naming (up to 8 of) the tensors no layer read: a
    // config that disagrees with its weights must not run silently.
    void require_all_read() const;

private:
    std::string folder_;
    VaeConfig config_;
    std::unique_ptr<SafeTensorsFile> file_;
};

}  // namespace svdq
