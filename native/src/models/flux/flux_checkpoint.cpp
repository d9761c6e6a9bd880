#include "models/flux/flux_checkpoint.h"

#include <filesystem>

#include "core/error.h"
#include "formats/json_text.h"
#include "formats/pipeline_folder.h"

namespace svdq {

namespace fs = std::filesystem;

FluxCheckpoint::FluxCheckpoint(const std::string& given) : path_(pipeline_component(given, "transformer")) {
    const std::string& path = path_;
    std::error_code ec;
    require(fs::exists(path, ec), SVDQ_ERROR_IO, path + ": no such file or folder");
    if (fs::is_directory(path, ec)) {
        const std::string config_what = (fs::path(path) / "config.json").string();
        require(fs::exists(config_what, ec), SVDQ_ERROR_IO, config_what + ": missing (a diffusers model folder has one)");
        config_text_ = read_text_file(config_what);
        config_ = flux_config_from_json(parse_json(config_text_, config_what), config_what);
        tensors_ = std::make_unique<SafeTensorsSet>(path, SafeTensorsSet::folder_files(path, "diffusion_pytorch_model"));
    } else {
        tensors_ = std::make_unique<SafeTensorsSet>(path, std::vector<std::string>{path});
        const auto& metadata = tensors_->files().front()->metadata();
        const auto config = metadata.find("config");
        require(config != metadata.end(), SVDQ_ERROR_FORMAT,
                path + ": no __metadata__ 'config' (a single-file FLUX checkpoint carries the diffusers config there; "
                       "otherwise pass the diffusers folder)");
        config_text_ = config->second;
        const std::string config_what = path + ": __metadata__ 'config'";
        config_ = flux_config_from_json(parse_json(config_text_, config_what), config_what);
    }
}

}  // namespace svdq
