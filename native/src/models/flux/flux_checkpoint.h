// A diffusers FLUX folder: config.json plus one or more *.safetensors shards
// (BF16/F16/F32), tensors looked up by diffusers' key names across shards.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/safetensors_file.h"
#include "models/flux/flux_config.h"

namespace svdq {

class FluxCheckpoint {
public:
    explicit FluxCheckpoint(const std::string& directory);

    const FluxConfig& config() const { return config_; }
    const std::string& directory() const { return directory_; }

    // The tensor `name` as float, checked to have `shape`; errors name the
    // file (or folder, when no shard has it) and the tensor.
    std::vector<float> read(const std::string& name, const std::vector<int64_t>& shape) const;

private:
    std::string directory_;
    FluxConfig config_;
    std::vector<std::unique_ptr<SafeTensorsFile>> shards_;
};

}  // namespace svdq
