#include "backend/plugin/dynamic_library.h"

#include <dlfcn.h>

namespace svdq {

std::string engine_library_folder() {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&engine_library_folder), &info) == 0 || info.dli_fname == nullptr) return "";
    const std::string file(info.dli_fname);
    const size_t slash = file.find_last_of('/');
    return slash == std::string::npos ? "" : file.substr(0, slash + 1);
}

void* load_library(const std::string& path, std::string& error) {
    // Local symbols: the plugin's own runtime never binds to the host's.
    void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
        const char* message = dlerror();
        error = message != nullptr ? message : "unknown reason";
    }
    return library;
}

void* library_symbol(void* library, const char* symbol) { return dlsym(library, symbol); }

}  // namespace svdq
