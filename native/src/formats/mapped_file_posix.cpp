#include "formats/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace svdq {

namespace {

[[noreturn]] void fail_io(const std::string& path, const std::string& what) {
    fail(SVDQ_ERROR_IO, path + ": " + what);
}

}  // namespace

MappedFile::MappedFile(const std::string& path) : path_(path) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer before the
    // regular-file check below refuses it; regular files ignore the flag.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) fail_io(path, std::string("cannot open (") + std::strerror(errno) + ")");
    struct stat st {};
    const bool stated = ::fstat(fd, &st) == 0;
    const int stat_error = errno;
    if (!stated || !S_ISREG(st.st_mode)) {
        ::close(fd);
        fail_io(path, !stated             ? std::string("cannot read its size (") + std::strerror(stat_error) + ")"
                      : S_ISDIR(st.st_mode) ? std::string("is a directory")
                                            : std::string("is not a regular file"));
    }
    size_ = static_cast<uint64_t>(st.st_size);
    input_.emplace(FileId{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)}, path);
    if (size_ > 0) {
        void* p = ::mmap(nullptr, static_cast<size_t>(size_), PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            const int error = errno;
            ::close(fd);
            fail_io(path, "cannot map " + std::to_string(size_) + " bytes (" + std::strerror(error) + ")");
        }
        data_ = static_cast<const uint8_t*>(p);
    }
    ::close(fd);  // the mapping keeps the file open
}

void MappedFile::release(uint64_t offset, uint64_t size) const {
    if (data_ == nullptr || size == 0 || offset >= size_) return;
    const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    const uint64_t begin = offset / page * page, end = std::min(size_, offset + size);
    // Advice only: a failure leaves the pages resident, which is harmless.
    (void)::madvise(const_cast<uint8_t*>(data_) + begin, static_cast<size_t>(end - begin), MADV_DONTNEED);
}

MappedFile::~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), static_cast<size_t>(size_));
}

}  // namespace svdq
