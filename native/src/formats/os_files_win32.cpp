#include "formats/os_files.h"

#define WIN32_LEAN_AND_MEAN
#ifndef NOMINMAX  // MinGW's libstdc++ defines it
#define NOMINMAX
#endif
#include <windows.h>

#include "core/windows_error.h"
#include "formats/file_identity.h"

namespace svdq {

long current_process_id() { return static_cast<long>(GetCurrentProcessId()); }

bool process_is_gone(long pid) {
    if (pid <= 0) return false;
    HANDLE process = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, static_cast<DWORD>(pid));
    if (process == nullptr) return GetLastError() == ERROR_INVALID_PARAMETER;  // no such process
    DWORD code = 0;
    const bool exited = GetExitCodeProcess(process, &code) && code != STILL_ACTIVE;
    CloseHandle(process);
    return exited;
}

std::string replace_file(const std::filesystem::path& from, const std::filesystem::path& to) {
    // A target another writer is replacing this very moment (or a scanner has
    // open) refuses for a moment: try again for up to a second. One that stays
    // open (mapped by a reader) is refused after that.
    DWORD error = 0;
    for (int attempt = 0; attempt < 100; ++attempt) {
        if (MoveFileExW(from.c_str(), to.c_str(), MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) return "";
        error = GetLastError();
        if (error != ERROR_ACCESS_DENIED && error != ERROR_SHARING_VIOLATION) break;
        Sleep(10);
    }
    return windows_error_text(error);
}

// The volume's serial number and the file's index: NTFS's inode.
std::optional<FileId> file_id(const std::string& path) {
    // No access asked, every sharing allowed: works on a file others have open.
    HANDLE file = CreateFileW(std::filesystem::u8path(path).c_str(), 0, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                              nullptr, OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, nullptr);
    if (file == INVALID_HANDLE_VALUE) return std::nullopt;
    BY_HANDLE_FILE_INFORMATION info{};
    const bool known = GetFileInformationByHandle(file, &info);
    CloseHandle(file);
    if (!known) return std::nullopt;
    return FileId{info.dwVolumeSerialNumber, (static_cast<uint64_t>(info.nFileIndexHigh) << 32) | info.nFileIndexLow};
}

}  // namespace svdq
