// A file written under a temporary name beside its target (target + suffix)
// that reaches the target only through commit(), an atomic rename. Until
// then the target is untouched, and the destructor removes the temporary, so
// a failed or abandoned write leaves nothing behind. Every failure is
// SVDQ_ERROR_IO and names the target.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace svdq {

class PendingFile {
public:
    PendingFile(const std::string& target, const char* suffix);
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

}  // namespace svdq
