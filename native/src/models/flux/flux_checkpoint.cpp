#include "models/flux/flux_checkpoint.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/tensor.h"
#include "io/json_text.h"

namespace svdq {

namespace fs = std::filesystem;

FluxCheckpoint::FluxCheckpoint(const std::string& directory) : directory_(directory) {
    std::error_code ec;
    require(fs::is_directory(directory, ec), SVDQ_ERROR_IO, directory + ": not a directory");
    const std::string config_path = (fs::path(directory) / "config.json").string();
    require(fs::exists(config_path, ec), SVDQ_ERROR_IO, config_path + ": missing (a diffusers model folder has one)");
    config_ = flux_config_from_json(read_json_file(config_path), config_path);

    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(directory))
        if (entry.is_regular_file() && entry.path().extension() == ".safetensors") files.push_back(entry.path().string());
    std::sort(files.begin(), files.end());
    require(!files.empty(), SVDQ_ERROR_IO, directory + ": no *.safetensors weights");
    for (const std::string& f : files) shards_.push_back(std::make_unique<SafeTensorsFile>(f));
}

std::vector<float> FluxCheckpoint::read(const std::string& name, const std::vector<int64_t>& shape) const {
    for (const auto& shard : shards_) {
        const TensorEntry* t = shard->find(name);
        if (t == nullptr) continue;
        require(t->shape == shape, SVDQ_ERROR_SHAPE_MISMATCH,
                shard->describe(*t) + " has shape " + t->shape_string() + ", the config needs " + shape_string(shape));
        return shard->read_f32(*t);
    }
    fail(SVDQ_ERROR_FORMAT, directory_ + ": no tensor '" + name + "' in any shard");
}

}  // namespace svdq
