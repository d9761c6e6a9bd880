#include "models/flux/flux_checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/tensor.h"
#include "formats/json_text.h"

namespace svdq {

namespace fs = std::filesystem;

namespace {

// The weight files of a diffusers folder. A sharded checkpoint's index
// (diffusion_pytorch_model.safetensors.index.json) names its shards in
// weight_map, and only those are read: a folder may also hold stale shards of
// another revision or format variants, whose tensors would otherwise shadow
// the indexed ones. Without an index: the diffusion_pytorch_model*.safetensors
// files, or any *.safetensors when none has that name (other safetensors files
// beside the weights, such as inputs or references, are not weights).
std::vector<std::string> shard_files(const std::string& folder) {
    const fs::path index = fs::path(folder) / "diffusion_pytorch_model.safetensors.index.json";
    std::error_code ec;
    if (fs::exists(index, ec)) {
        const nlohmann::json j = read_json_file(index.string());
        const auto map = j.find("weight_map");
        require(map != j.end() && map->is_object() && !map->empty(), SVDQ_ERROR_FORMAT,
                index.string() + ": no weight_map object naming the shards");
        std::set<std::string> names;
        for (const auto& [tensor, file] : map->items()) {
            require(file.is_string(), SVDQ_ERROR_FORMAT, index.string() + ": weight_map['" + tensor + "'] is not a file name");
            names.insert(file.get<std::string>());
        }
        std::vector<std::string> shards;
        for (const std::string& name : names) shards.push_back((fs::path(folder) / name).string());
        return shards;
    }
    std::vector<std::string> shards, others;
    for (const auto& entry : fs::directory_iterator(folder))
        if (entry.is_regular_file() && entry.path().extension() == ".safetensors")
            (entry.path().filename().string().rfind("diffusion_pytorch_model", 0) == 0 ? shards : others)
                .push_back(entry.path().string());
    if (shards.empty()) shards = others;
    std::sort(shards.begin(), shards.end());
    return shards;
}

}  // namespace

FluxCheckpoint::FluxCheckpoint(const std::string& path) : path_(path) {
    std::error_code ec;
    require(fs::exists(path, ec), SVDQ_ERROR_IO, path + ": no such file or folder");
    if (fs::is_directory(path, ec)) {
        const std::string config_what = (fs::path(path) / "config.json").string();
        require(fs::exists(config_what, ec), SVDQ_ERROR_IO, config_what + ": missing (a diffusers model folder has one)");
        config_text_ = read_text_file(config_what);
        config_ = flux_config_from_json(parse_json(config_text_, config_what), config_what);
        std::vector<std::string> shards = shard_files(path);
        require(!shards.empty(), SVDQ_ERROR_IO, path + ": no *.safetensors weights");
        for (const std::string& f : shards) files_.push_back(std::make_unique<SafeTensorsFile>(f));
    } else {
        files_.push_back(std::make_unique<SafeTensorsFile>(path));
        const auto& metadata = files_.front()->metadata();
        const auto config = metadata.find("config");
        require(config != metadata.end(), SVDQ_ERROR_FORMAT,
                path + ": no __metadata__ 'config' (a single-file FLUX checkpoint carries the diffusers config there; "
                       "otherwise pass the diffusers folder)");
        config_text_ = config->second;
        const std::string config_what = path + ": __metadata__ 'config'";
        config_ = flux_config_from_json(parse_json(config_text_, config_what), config_what);
    }
}

const SafeTensorsFile* FluxCheckpoint::file_with(const std::string& name) const {
    for (const auto& file : files_)
        if (file->find(name) != nullptr) return file.get();
    return nullptr;
}

std::vector<std::string> FluxCheckpoint::tensor_names() const {
    std::vector<std::string> names;
    for (const auto& file : files_)
        for (const TensorEntry& t : file->tensors()) names.push_back(t.name);
    return names;
}

void FluxCheckpoint::require_all_read(bool (*among)(const std::string& name)) const {
    std::vector<std::string> unread;
    for (const auto& file : files_)
        for (std::string& name : file->unread_tensors())
            if (among == nullptr || among(name)) unread.push_back(std::move(name));
    if (unread.empty()) return;
    constexpr size_t kNamed = 8;
    std::string names;
    for (size_t i = 0; i < std::min(unread.size(), kNamed); ++i) names += (i ? ", '" : "'") + unread[i] + "'";
    if (unread.size() > kNamed) names += " and " + std::to_string(unread.size() - kNamed) + " more";
    fail(SVDQ_ERROR_FORMAT, path_ + ": " + std::to_string(unread.size()) + " tensor" + (unread.size() == 1 ? "" : "s") +
                                " the config does not use: " + names + " (does the config match the checkpoint?)");
}

std::vector<float> FluxCheckpoint::read(const std::string& name, const std::vector<int64_t>& shape) const {
    const SafeTensorsFile* file = file_with(name);
    require(file != nullptr, SVDQ_ERROR_FORMAT, path_ + ": no tensor '" + name + "'");
    const TensorEntry& t = file->at(name);
    require(t.shape == shape, SVDQ_ERROR_SHAPE_MISMATCH,
            file->describe(t) + " has shape " + t.shape_string() + ", the config needs " + shape_string(shape));
    return file->read_f32(t);
}

}  // namespace svdq
