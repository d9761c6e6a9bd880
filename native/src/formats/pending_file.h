// A file written under a temporary name beside its target that reaches the
// target only through commit(), an atomic rename. Until then the target is
// untouched, and the destructor removes the temporary, so a failed or
// abandoned write leaves nothing behind. Every failure is SVDQ_ERROR_IO and
// names the target.
//
// The temporary's name is unique to this write (".svdq-PID-RANDOM-name.kind",
// within the 255-byte name limit), so two runs writing one target never
// share it: each renames a whole file into place, the last one wins. A
// temporary whose process is gone (killed before it could clean up) is
// removed by the next write into the same folder. The target must be a
// regular file or absent (a symlink, device or directory is refused), must
// not be an input this process has open, and keeps its permissions when
// replaced; other hard links to it keep the old contents.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace svdq {

class PendingFile {
public:
    // `kind` ("partial", "spill") ends the temporary's name.
    PendingFile(const std::string& target, const char* kind);
    ~PendingFile();
    PendingFile(const PendingFile&) = delete;
    PendingFile& operator=(const PendingFile&) = delete;

    const std::filesystem::path& temporary() const { return temporary_; }

    void write(const void* data, uint64_t size);
    // Flushes and closes the temporary; throws if any write failed.
    void close();
    // close(), then renames the temporary over the target.
    void commit();

private:
    std::string target_;
    std::filesystem::path temporary_;
    std::ofstream out_;
    bool committed_ = false;
};

// The prefix every temporary name starts with.
constexpr const char* kTemporaryPrefix = ".svdq-";

}  // namespace svdq
