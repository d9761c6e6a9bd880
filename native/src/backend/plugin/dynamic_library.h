// Loading a shared library at run time, one implementation per OS
// (dynamic_library_posix.cpp: dlopen; dynamic_library_win32.cpp:
// LoadLibraryExW). Paths are UTF-8.
#pragma once

#include <string>

namespace svdq {

// The folder this engine library was loaded from, with a trailing separator
// ("" when unknown).
std::string engine_library_folder();

// The library at `path`, loaded for the life of the process with its symbols
// kept to itself; null with `error` saying why when it cannot be loaded.
void* load_library(const std::string& path, std::string& error);

// The address `library` exports as `symbol`; null when it has none.
void* library_symbol(void* library, const char* symbol);

}  // namespace svdq
