#include "io/pending_file.h"

#include "core/error.h"

namespace svdq {

namespace fs = std::filesystem;

PendingFile::PendingFile(const std::string& target, const char* suffix)
    : target_(target), temporary_(fs::u8path(target + suffix)) {
    out_.open(temporary_, std::ios::binary | std::ios::trunc);
    require(out_.good(), SVDQ_ERROR_IO, target_ + ": cannot create " + temporary_.u8string());
}

PendingFile::~PendingFile() {
    if (committed_) return;
    out_.close();
    std::error_code ignored;
    fs::remove(temporary_, ignored);
}

void PendingFile::write(const void* data, uint64_t size) {
    out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    require(out_.good(), SVDQ_ERROR_IO, target_ + ": writing " + temporary_.u8string() + " failed (disk full?)");
}

void PendingFile::close() {
    if (out_.is_open()) out_.close();  // flushes: a full disk may only show here
    require(!out_.fail(), SVDQ_ERROR_IO, target_ + ": writing " + temporary_.u8string() + " failed (disk full?)");
}

void PendingFile::commit() {
    close();
    std::error_code error;
    fs::rename(temporary_, fs::u8path(target_), error);
    require(!error, SVDQ_ERROR_IO, target_ + ": cannot move the written file into place (" + error.message() + ")");
    committed_ = true;
}

}  // namespace svdq
