// Activation memory of one context: a bump allocator over the backend's
// buffers. A Scope returns everything allocated inside it when it ends; when
// the outermost scope ends after the arena had to grow, its chunks are merged
// into one of their total size, so the next forward of the same shape
// allocates nothing. Buffer: one persistent allocation for tensors that
// outlive a scope (model constants, the quantizer's calibration states).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/tensor_view.h"

namespace svdq {

class Backend;

class Arena {
public:
    explicit Arena(Backend& backend) : backend_(backend) {}
    ~Arena();
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;

    class Scope {
    public:
        explicit Scope(Arena& arena);
        ~Scope();
        Scope(const Scope&) = delete;
        Scope& operator=(const Scope&) = delete;

    private:
        Arena& arena_;
        size_t chunk_, offset_;
    };

    // A [rows, cols] float matrix in backend memory, uninitialised; valid
    // until the innermost scope around this call ends.
    TensorView matrix(int64_t rows, int64_t cols);
    // host's values in backend memory; host itself when the backend reads host memory.
    TensorView input(const float* host, int64_t rows, int64_t cols);

    // How many times the arena asked the backend for memory (tests).
    uint64_t backend_allocations() const { return backend_allocations_; }

private:
    struct Chunk {
        void* data;
        size_t size;
    };
    void* allocate(size_t bytes);
    void end_scope(size_t chunk, size_t offset);

    Backend& backend_;
    std::vector<Chunk> chunks_;
    size_t chunk_ = 0, offset_ = 0;  // the next free byte
    int depth_ = 0;
    uint64_t backend_allocations_ = 0;
};

class Buffer {
public:
    Buffer(Backend& backend, int64_t rows, int64_t cols);
    ~Buffer();
    Buffer(Buffer&& other) noexcept;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    Buffer& operator=(Buffer&&) = delete;

    const TensorView& view() const { return view_; }

private:
    Backend* backend_;
    TensorView view_;
};

}  // namespace svdq
