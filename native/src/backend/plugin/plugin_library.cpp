#include "backend/plugin/plugin_library.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.h"

#if defined(_WIN32)
#include <windows.h>
#else
#include <dlfcn.h>
#endif

namespace svdq {

namespace {

#if defined(_WIN32)
constexpr const char* kCudaLibrary = "svdquant_cuda.dll";
#elif defined(__APPLE__)
constexpr const char* kCudaLibrary = "libsvdquant_cuda.dylib";
#else
constexpr const char* kCudaLibrary = "libsvdquant_cuda.so";
#endif

// The folder libsvdquant was loaded from, with a trailing separator ("" when unknown).
std::string own_folder() {
#if defined(_WIN32)
    HMODULE self = nullptr;
    char path[MAX_PATH];
    if (!GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                            reinterpret_cast<LPCSTR>(&own_folder), &self) ||
        GetModuleFileNameA(self, path, MAX_PATH) == 0)
        return "";
    std::string file(path);
    return file.substr(0, file.find_last_of("\\/") + 1);
#else
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&own_folder), &info) == 0 || info.dli_fname == nullptr) return "";
    const std::string file(info.dli_fname);
    const size_t slash = file.find_last_of('/');
    return slash == std::string::npos ? "" : file.substr(0, slash + 1);
#endif
}

std::string last_load_error() {
#if defined(_WIN32)
    return "Windows error " + std::to_string(GetLastError());
#else
    const char* message = dlerror();
    return message != nullptr ? message : "unknown reason";
#endif
}

struct LoadResult {
    const svdq_backend_plugin* plugin = nullptr;
    std::string refusal;  // why not, when plugin is null
};

bool file_exists(const std::string& path) {
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (file != nullptr) std::fclose(file);
    return file != nullptr;
}

LoadResult load(const std::string& path, bool from_environment) {
    const std::string where = "the CUDA backend library " + path + (from_environment ? " (SVDQ_CUDA_LIBRARY)" : "");
    // The managed layer keys on "has no CUDA backend" to name the NuGet package that brings the library.
    if (!file_exists(path)) return {nullptr, where + " is not there: this build or package has no CUDA backend"};
#if defined(_WIN32)
    HMODULE library = LoadLibraryA(path.c_str());
    if (library == nullptr) return {nullptr, where + " could not be loaded: " + last_load_error()};
    auto entry = reinterpret_cast<svdq_backend_plugin_entry>(GetProcAddress(library, SVDQ_PLUGIN_ENTRY_SYMBOL));
#else
    // Local symbols: the plugin's own runtime never binds to the host's.
    void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) return {nullptr, where + " could not be loaded: " + last_load_error()};
    auto entry = reinterpret_cast<svdq_backend_plugin_entry>(dlsym(library, SVDQ_PLUGIN_ENTRY_SYMBOL));
#endif
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
        return load(own_folder() + kCudaLibrary, false);
    }();
    if (loaded.plugin == nullptr) fail(SVDQ_ERROR_UNSUPPORTED, loaded.refusal);
    return *loaded.plugin;
}

}  // namespace svdq
