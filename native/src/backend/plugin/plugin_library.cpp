#include "backend/plugin/plugin_library.h"

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include "backend/plugin/dynamic_library.h"
#include "core/error.h"

namespace svdq {

namespace {

#if defined(_WIN32)
constexpr const char* kCudaLibrary = "svdquant_cuda.dll";
#elif defined(__APPLE__)
constexpr const char* kCudaLibrary = "libsvdquant_cuda.dylib";
#else
constexpr const char* kCudaLibrary = "libsvdquant_cuda.so";
#endif

struct LoadResult {
    const svdq_backend_plugin* plugin = nullptr;
    std::string refusal;  // why not, when plugin is null
};

bool file_exists(const std::string& path) {
    std::error_code ignored;
    return std::filesystem::exists(std::filesystem::u8path(path), ignored);
}

LoadResult load(const std::string& path, bool from_environment) {
    const std::string where = "the CUDA backend library " + path + (from_environment ? " (SVDQ_CUDA_LIBRARY)" : "");
    // The managed layer keys on "has no CUDA backend" to name the NuGet package that brings the library.
    if (!file_exists(path)) return {nullptr, where + " is not there: this build or package has no CUDA backend"};
    std::string error;
    void* library = load_library(path, error);
    if (library == nullptr) return {nullptr, where + " could not be loaded: " + error};
    auto entry = reinterpret_cast<svdq_backend_plugin_entry>(library_symbol(library, SVDQ_PLUGIN_ENTRY_SYMBOL));
    // The library stays loaded for the life of the process: contexts and layers point into it.
    if (entry == nullptr) return {nullptr, where + " has no " SVDQ_PLUGIN_ENTRY_SYMBOL " entry point: not a svdquant backend"};
    const svdq_backend_plugin* plugin = entry();
    if (plugin == nullptr || plugin->abi_version != SVDQ_PLUGIN_ABI_VERSION)
        return {nullptr, where + " speaks plugin ABI " + (plugin ? std::to_string(plugin->abi_version) : std::string("?")) +
                             ", this libsvdquant " + std::to_string(SVDQ_PLUGIN_ABI_VERSION) +
                             ": ship the two libraries from one build"};
    return {plugin, ""};
}

}  // namespace

const svdq_backend_plugin& cuda_plugin() {
    static const LoadResult loaded = [] {
        const char* override_path = std::getenv("SVDQ_CUDA_LIBRARY");
        if (override_path != nullptr && *override_path != '\0') return load(override_path, true);
        return load(engine_library_folder() + kCudaLibrary, false);
    }();
    if (loaded.plugin == nullptr) fail(SVDQ_ERROR_UNSUPPORTED, loaded.refusal);
    return *loaded.plugin;
}

}  // namespace svdq
