#include "formats/safetensors_set.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/tensor.h"
#include "formats/json_text.h"

namespace svdq {

namespace fs = std::filesystem;

std::vector<std::string> SafeTensorsSet::folder_files(const std::string& folder, const std::string& stem) {
    const fs::path index = fs::path(folder) / (stem + ".safetensors.index.json");
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
            (entry.path().filename().string().rfind(stem, 0) == 0 ? shards : others).push_back(entry.path().string());
    if (shards.empty()) shards = others;
    std::sort(shards.begin(), shards.end());
    return shards;
}

SafeTensorsSet::SafeTensorsSet(std::string name, const std::vector<std::string>& files) : name_(std::move(name)) {
    require(!files.empty(), SVDQ_ERROR_IO, name_ + ": no *.safetensors weights");
    for (const std::string& f : files) files_.push_back(std::make_unique<SafeTensorsFile>(f));
}

const SafeTensorsFile* SafeTensorsSet::file_with(const std::string& tensor) const {
    for (const auto& file : files_)
        if (file->find(tensor) != nullptr) return file.get();
    return nullptr;
}

std::vector<std::string> SafeTensorsSet::tensor_names() const {
    std::vector<std::string> names;
    for (const auto& file : files_)
        for (const TensorEntry& t : file->tensors()) names.push_back(t.name);
    return names;
}

const TensorEntry& SafeTensorsSet::entry(const std::string& tensor, const std::vector<int64_t>& shape) const {
    const SafeTensorsFile* file = file_with(tensor);
    require(file != nullptr, SVDQ_ERROR_FORMAT, name_ + ": no tensor '" + tensor + "'");
    const TensorEntry& t = file->at(tensor);
    require(t.shape == shape, SVDQ_ERROR_SHAPE_MISMATCH,
            file->describe(t) + " has shape " + t.shape_string() + ", the config needs " + shape_string(shape));
    return t;
}

std::vector<float> SafeTensorsSet::read(const std::string& tensor, const std::vector<int64_t>& shape) const {
    const TensorEntry& t = entry(tensor, shape);
    return file_with(tensor)->read_f32(t);
}

void SafeTensorsSet::require_all_read(bool (*among)(const std::string& tensor)) const {
    std::vector<std::string> unread;
    for (const auto& file : files_)
        for (std::string& name : file->unread_tensors())
            if (among == nullptr || among(name)) unread.push_back(std::move(name));
    if (unread.empty()) return;
    constexpr size_t kNamed = 8;
    std::string names;
    for (size_t i = 0; i < std::min(unread.size(), kNamed); ++i) names += (i ? ", '" : "'") + unread[i] + "'";
    if (unread.size() > kNamed) names += " and " + std::to_string(unread.size() - kNamed) + " more";
    fail(SVDQ_ERROR_FORMAT, name_ + ": " + std::to_string(unread.size()) + " tensor" + (unread.size() == 1 ? "" : "s") +
                                " the config does not use: " + names + " (does the config match the checkpoint?)");
}

}  // namespace svdq
