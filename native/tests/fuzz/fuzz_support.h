// What the fuzz targets share: an in-memory file for the engine's path-based
// readers, safetensors images built around fuzzed text, and the one rule for
// outcomes (svdq::Error is an answer; anything else is a finding).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace fuzz {

// A file the engine's readers open by path, rewritten for every input: on
// Linux a memfd named by /proc/self/fd/N, so no input touches the disk;
// elsewhere a temporary file.
class MemoryFile {
public:
#ifdef __linux__
    MemoryFile() : fd_(memfd_create("svdq-fuzz", MFD_CLOEXEC)) {
        if (fd_ < 0) fatal("memfd_create failed");
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    ~MemoryFile() { close(fd_); }
#else
    MemoryFile() {
        char name[] = "/tmp/svdq-fuzz-XXXXXX";
        fd_ = mkstemp(name);
        if (fd_ < 0) fatal("mkstemp failed");
        path_ = name;
    }
    ~MemoryFile() {
        close(fd_);
        unlink(path_.c_str());
    }
#endif
    MemoryFile(const MemoryFile&) = delete;
    MemoryFile& operator=(const MemoryFile&) = delete;

    // Replaces the contents with `bytes`; returns the path to open.
    const std::string& hold(std::string_view bytes) {
        if (ftruncate(fd_, 0) != 0) fatal("ftruncate failed");
        for (size_t done = 0; done < bytes.size();) {
            const ssize_t n = pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
            if (n <= 0) fatal("pwrite failed");
            done += static_cast<size_t>(n);
        }
        return path_;
    }

private:
    [[noreturn]] static void fatal(const char* what) {
        std::fprintf(stderr, "fuzz harness: %s\n", what);
        std::abort();
    }
    int fd_;
    std::string path_;
};

// `bytes` as a JSON string literal; bytes that are not UTF-8 become U+FFFD,
// as a safetensors header cannot hold them anyway.
inline std::string json_string(std::string_view bytes) {
    return nlohmann::json(std::string(bytes)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A safetensors file without tensors whose __metadata__ maps `key` to `value`.
inline std::string metadata_only_image(const std::string& key, std::string_view value) {
    const std::string header = "{\"__metadata__\":{" + json_string(key) + ":" + json_string(value) + "}}";
    std::string image(8, '\0');
    for (size_t i = 0; i < 8; ++i) image[i] = static_cast<char>((static_cast<uint64_t>(header.size()) >> (8 * i)) & 0xff);
    return image + header;
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

// Runs `f`: an svdq::Error is the expected answer to a bad input; any other
// exception aborts, so libFuzzer reports it (as it does crashes and
// sanitizer reports) with the input that caused it.
template <class F>
void expect_svdq_errors_only(F&& f) {
    try {
        f();
    } catch (const svdq::Error&) {
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fuzz finding: exception other than svdq::Error: %s\n", e.what());
        std::abort();
    } catch (...) {
        std::fprintf(stderr, "fuzz finding: non-standard exception\n");
        std::abort();
    }
}

}  // namespace fuzz
