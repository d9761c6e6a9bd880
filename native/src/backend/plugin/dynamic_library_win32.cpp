#include "backend/plugin/dynamic_library.h"

#define WIN32_LEAN_AND_MEAN
#ifndef NOMINMAX  // MinGW's libstdc++ defines it
#define NOMINMAX
#endif
#include <windows.h>

#include <filesystem>
#include <system_error>

#include "core/windows_error.h"

namespace svdq {

namespace fs = std::filesystem;

std::string engine_library_folder() {
    HMODULE self = nullptr;
    if (!GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                            reinterpret_cast<LPCWSTR>(&engine_library_folder), &self))
        return "";
    std::wstring file(MAX_PATH, L'\0');
    for (;;) {  // long paths: grow until the name fits
        const DWORD n = GetModuleFileNameW(self, file.data(), static_cast<DWORD>(file.size()));
        if (n == 0) return "";
        if (n < file.size()) {
            file.resize(n);
            break;
        }
        file.resize(file.size() * 2);
    }
    const fs::path folder = fs::path(file).parent_path();
    return folder.empty() ? "" : (folder / "").u8string();
}

void* load_library(const std::string& path, std::string& error) {
    // Absolute, so that the library's own dependencies (the CUDA runtime's
    // DLLs) are found beside it (LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR), then in
    // the system's folders.
    std::error_code ignored;
    const fs::path absolute = fs::absolute(fs::u8path(path), ignored);
    HMODULE library = LoadLibraryExW(absolute.c_str(), nullptr,
                                     LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS);
    if (library == nullptr) error = windows_error_text(GetLastError());
    return reinterpret_cast<void*>(library);
}

void* library_symbol(void* library, const char* symbol) {
    return reinterpret_cast<void*>(GetProcAddress(static_cast<HMODULE>(library), symbol));
}

}  // namespace svdq
