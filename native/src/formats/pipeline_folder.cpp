#include "formats/pipeline_folder.h"

#include <filesystem>

#include "core/error.h"

namespace svdq {

namespace fs = std::filesystem;

std::string pipeline_component(const std::string& path, const std::string& component) {
    std::error_code ec;
    const fs::path folder = fs::u8path(path);
    if (!fs::is_directory(folder, ec) || fs::exists(folder / "config.json", ec)) return path;
    const fs::path inside = folder / fs::u8path(component);
    if (fs::is_directory(inside, ec)) return inside.u8string();
    require(!fs::exists(folder / "model_index.json", ec), SVDQ_ERROR_IO,
            path + ": a pipeline folder (model_index.json) without " + component + "/");
    fail(SVDQ_ERROR_IO, path + ": no " + component + "/ folder and no config.json (a " + component +
                            " folder, or a pipeline folder with " + component + "/)");
}

}  // namespace svdq
