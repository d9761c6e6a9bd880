// A whole file mapped read-only into memory (POSIX mmap, or a file mapping
// on Windows). Tensor views point straight into it, so nothing is copied and
// the OS pages weights in on first touch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "formats/file_identity.h"

namespace svdq {

class MappedFile {
public:
    // Throws SVDQ_ERROR_IO naming `path` when it cannot be opened or mapped.
    explicit MappedFile(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const std::string& path() const { return path_; }
    const uint8_t* data() const { return data_; }  // NULL for an empty file
    uint64_t size() const { return size_; }

    // Drops the pages of bytes [offset, offset + size) from this process's
    // resident memory (they stay in the OS's file cache; the next read pages
    // them in again), so a loader that streams a large file holds only what
    // it keeps. Whole pages overlapping the range go: the mapping is
    // read-only, so nothing is lost. A no-op on Windows.
    void release(uint64_t offset, uint64_t size) const;

private:
    std::string path_;
    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
    std::optional<OpenInput> input_;  // so no output of this process replaces it while mapped
#ifdef _WIN32
    void* mapping_ = nullptr;  // HANDLE of the file mapping
#endif
};

}  // namespace svdq
