// Which file a path names, as the OS identifies it (device and inode, through
// symlinks and hard links), and the inputs this process has open, so that no
// output ever replaces a file a run is reading.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace svdq {

struct FileId {
    uint64_t device = 0, inode = 0;
    bool operator==(const FileId& o) const { return device == o.device && inode == o.inode; }
};

// The file `path` names, following symlinks; empty when there is none.
// Per OS (os_files_posix.cpp: device and inode; os_files_win32.cpp: volume
// serial number and file index).
std::optional<FileId> file_id(const std::string& path);

// Registers an open input for as long as it lives.
class OpenInput {
public:
    OpenInput(const std::optional<FileId>& id, const std::string& path);
    ~OpenInput();
    OpenInput(const OpenInput&) = delete;
    OpenInput& operator=(const OpenInput&) = delete;

private:
    std::optional<FileId> id_;
};

// The path under which an open input was opened, when `path` names that same
// file; empty otherwise.
std::string open_input_named_by(const std::string& path);

}  // namespace svdq
