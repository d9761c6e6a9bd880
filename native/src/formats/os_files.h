// The few file-system and process facts the formats need from the OS, one
// implementation per OS (os_files_posix.cpp, os_files_win32.cpp). Paths are
// UTF-8 everywhere; Windows converts them to wide paths.
#pragma once

#include <filesystem>
#include <string>

namespace svdq {

// This process's id.
long current_process_id();

// Whether no process with id `pid` runs: only a definite "no such process"
// counts, any doubt (no permission to ask) says it still runs.
bool process_is_gone(long pid);

// Moves `from` over `to` in one step (replacing a file that is there);
// returns "" or the OS's reason. Windows refuses while `to` is mapped.
std::string replace_file(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace svdq
