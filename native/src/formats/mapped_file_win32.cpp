#include "formats/mapped_file.h"

#define WIN32_LEAN_AND_MEAN
#ifndef NOMINMAX  // MinGW's libstdc++ defines it
#define NOMINMAX
#endif
#include <windows.h>

#include <filesystem>

#include "core/error.h"
#include "core/windows_error.h"

namespace svdq {

namespace {

[[noreturn]] void fail_io(const std::string& path, const std::string& what) {
    fail(SVDQ_ERROR_IO, path + ": " + what);
}

}  // namespace

MappedFile::MappedFile(const std::string& path) : path_(path) {
    // FILE_FLAG_BACKUP_SEMANTICS opens a directory too, so it is refused by name below.
    HANDLE file = CreateFileW(std::filesystem::u8path(path).c_str(), GENERIC_READ, FILE_SHARE_READ, nullptr, OPEN_EXISTING,
                              FILE_FLAG_BACKUP_SEMANTICS, nullptr);
    if (file == INVALID_HANDLE_VALUE) fail_io(path, "cannot open (" + windows_error_text(GetLastError()) + ")");
    BY_HANDLE_FILE_INFORMATION info{};
    if (!GetFileInformationByHandle(file, &info) || (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) != 0) {
        const std::string error = windows_error_text(GetLastError());
        CloseHandle(file);
        fail_io(path, (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) != 0 ? "is a directory"
                                                                             : "cannot read its size (" + error + ")");
    }
    size_ = (static_cast<uint64_t>(info.nFileSizeHigh) << 32) | info.nFileSizeLow;
    input_.emplace(FileId{info.dwVolumeSerialNumber, (static_cast<uint64_t>(info.nFileIndexHigh) << 32) | info.nFileIndexLow},
                   path);
    if (size_ > 0) {
        mapping_ = CreateFileMappingW(file, nullptr, PAGE_READONLY, 0, 0, nullptr);
        if (mapping_ != nullptr) data_ = static_cast<const uint8_t*>(MapViewOfFile(mapping_, FILE_MAP_READ, 0, 0, 0));
    }
    const std::string error = windows_error_text(GetLastError());
    CloseHandle(file);  // the mapping keeps the file open
    if (size_ > 0 && data_ == nullptr) {
        if (mapping_ != nullptr) CloseHandle(mapping_);
        fail_io(path, "cannot map " + std::to_string(size_) + " bytes (" + error + ")");
    }
}

// Windows has no advice that drops a read-only view's pages; the working set
// trims them under memory pressure.
void MappedFile::release(uint64_t, uint64_t) const {}

MappedFile::~MappedFile() {
    if (data_ != nullptr) UnmapViewOfFile(data_);
    if (mapping_ != nullptr) CloseHandle(mapping_);
}

}  // namespace svdq
