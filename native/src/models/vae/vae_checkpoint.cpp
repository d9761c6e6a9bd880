#include "models/vae/vae_checkpoint.h"

#include <filesystem>

#include "core/error.h"
#include "core/tensor.h"
#include "formats/json_text.h"
#include "formats/pipeline_folder.h"

namespace svdq {

namespace fs = std::filesystem;

VaeCheckpoint::VaeCheckpoint(const std::string& path) {
    std::error_code ec;
    require(fs::is_directory(path, ec), SVDQ_ERROR_IO, path + ": not a folder (a VAE folder or a pipeline folder with vae/)");
    folder_ = pipeline_component(path, "vae");
    const std::string config_path = (fs::path(folder_) / "config.json").string();
    require(fs::exists(config_path, ec), SVDQ_ERROR_IO, config_path + ": missing (a diffusers VAE folder has one)");
    config_ = vae_config_from_json(read_json_file(config_path), config_path);
    const std::string weights = (fs::path(folder_) / "diffusion_pytorch_model.safetensors").string();
    require(fs::exists(weights, ec), SVDQ_ERROR_IO, weights + ": missing (the VAE's weights)");
    file_ = std::make_unique<SafeTensorsFile>(weights);
}

std::vector<float> VaeCheckpoint::read(const std::string& name, const std::vector<int64_t>& shape) const {
    const TensorEntry* t = file_->find(name);
    require(t != nullptr, SVDQ_ERROR_FORMAT, file_->path() + ": no tensor '" + name + "'");
    require(t->shape == shape, SVDQ_ERROR_SHAPE_MISMATCH,
            file_->describe(*t) + " has shape " + t->shape_string() + ", the config needs " + shape_string(shape));
    return file_->read_f32(*t);
}

int64_t VaeCheckpoint::parameter_count() const {
    int64_t count = 0;
    for (const TensorEntry& t : file_->tensors()) count += t.numel;
    return count;
}

void VaeCheckpoint::require_all_read() const {
    const std::vector<std::string> unread = file_->unread_tensors();
    if (unread.empty()) return;
    constexpr size_t kNamed = 8;
    std::string names;
    for (size_t i = 0; i < std::min(unread.size(), kNamed); ++i) names += (i ? ", '" : "'") + unread[i] + "'";
    if (unread.size() > kNamed) names += " and " + std::to_string(unread.size() - kNamed) + " more";
    fail(SVDQ_ERROR_FORMAT, file_->path() + ": " + std::to_string(unread.size()) + " tensor" + (unread.size() == 1 ? "" : "s") +
                                " the config does not use: " + names + " (does the config match the checkpoint?)");
}

}  // namespace svdq
