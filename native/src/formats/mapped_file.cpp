#include "formats/mapped_file.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"

#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#define NOMINMAX
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace svdq {

namespace {

[[noreturn]] void fail_io(const std::string& path, const std::string& what) {
    fail(SVDQ_ERROR_IO, path + ": " + what);
}

}  // namespace

#ifdef _WIN32

namespace {

std::wstring widen(const std::string& utf8) {
    const int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8.data(), static_cast<int>(utf8.size()), nullptr, 0);
    if (n <= 0 && !utf8.empty()) fail(SVDQ_ERROR_INVALID_ARGUMENT, "path is not valid UTF-8");
    std::wstring wide(static_cast<size_t>(n), L'\0');
    MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), wide.data(), n);
    return wide;
}

std::string windows_error() { return "Windows error " + std::to_string(GetLastError()); }

}  // namespace

MappedFile::MappedFile(const std::string& path) : path_(path) {
    HANDLE file = CreateFileW(widen(path).c_str(), GENERIC_READ, FILE_SHARE_READ, nullptr, OPEN_EXISTING,
                              FILE_ATTRIBUTE_NORMAL, nullptr);
    if (file == INVALID_HANDLE_VALUE) fail_io(path, "cannot open (" + windows_error() + ")");
    LARGE_INTEGER size;
    if (!GetFileSizeEx(file, &size)) {
        const std::string error = windows_error();
        CloseHandle(file);
        fail_io(path, "cannot read its size (" + error + ")");
    }
    size_ = static_cast<uint64_t>(size.QuadPart);
    if (size_ > 0) {
        mapping_ = CreateFileMappingW(file, nullptr, PAGE_READONLY, 0, 0, nullptr);
        if (mapping_ != nullptr) data_ = static_cast<const uint8_t*>(MapViewOfFile(mapping_, FILE_MAP_READ, 0, 0, 0));
    }
    const std::string error = windows_error();
    CloseHandle(file);  // the mapping keeps the file open
    if (size_ > 0 && data_ == nullptr) {
        if (mapping_ != nullptr) CloseHandle(mapping_);
        fail_io(path, "cannot map " + std::to_string(size_) + " bytes (" + error + ")");
    }
}

void MappedFile::release(uint64_t, uint64_t) const {}

MappedFile::~MappedFile() {
    if (data_ != nullptr) UnmapViewOfFile(data_);
    if (mapping_ != nullptr) CloseHandle(mapping_);
}

#else

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

#endif

}  // namespace svdq
