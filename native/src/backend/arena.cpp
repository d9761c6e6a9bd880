#include "backend/arena.h"

#include <algorithm>

#include "backend/backend.h"
#include "core/error.h"

namespace svdq {

namespace {

constexpr size_t kAlign = 64;
constexpr size_t kMinChunk = size_t{1} << 20;

size_t float_bytes(int64_t rows, int64_t cols) {
    if (rows < 0 || cols < 0) fail(SVDQ_ERROR_INTERNAL, "a matrix of negative size");
    return static_cast<size_t>(rows) * static_cast<size_t>(cols) * sizeof(float);
}

}  // namespace

Arena::~Arena() {
    for (const Chunk& c : chunks_) backend_.release(c.data, c.size);
}

Arena::Scope::Scope(Arena& arena) : arena_(arena), chunk_(arena.chunk_), offset_(arena.offset_) { ++arena_.depth_; }

Arena::Scope::~Scope() { arena_.end_scope(chunk_, offset_); }

void Arena::end_scope(size_t chunk, size_t offset) {
    chunk_ = chunk;
    offset_ = offset;
    if (--depth_ > 0 || chunks_.size() < 2) return;
    // The outermost scope ended after growing: one chunk of the total size
    // holds the same sequence of allocations next time.
    size_t total = 0;
    for (const Chunk& c : chunks_) {
        total += c.size;
        backend_.release(c.data, c.size);
    }
    chunks_.clear();
    chunk_ = offset_ = 0;
    try {
        chunks_.push_back({backend_.allocate(total), total});
        ++backend_allocations_;
    } catch (...) {  // a scope ends in a destructor: the next allocate grows again
    }
}

void* Arena::allocate(size_t bytes) {
    if (depth_ == 0) fail(SVDQ_ERROR_INTERNAL, "arena memory requested outside a scope");
    bytes = (bytes + kAlign - 1) / kAlign * kAlign;
    for (; chunk_ < chunks_.size(); ++chunk_, offset_ = 0)
        if (chunks_[chunk_].size - offset_ >= bytes) {
            void* p = static_cast<char*>(chunks_[chunk_].data) + offset_;
            offset_ += bytes;
            return p;
        }
    size_t total = 0;
    for (const Chunk& c : chunks_) total += c.size;
    const size_t size = std::max({bytes, kMinChunk, total});
    chunks_.push_back({backend_.allocate(size), size});
    ++backend_allocations_;
    chunk_ = chunks_.size() - 1;
    offset_ = bytes;
    return chunks_.back().data;
}

TensorView Arena::matrix(int64_t rows, int64_t cols) {
    return {static_cast<float*>(allocate(float_bytes(rows, cols))), rows, cols, cols, Memory::backend};
}

TensorView Arena::input(const float* host, int64_t rows, int64_t cols) {
    if (backend_.reads_host_memory()) return TensorView::host(host, rows, cols);
    const TensorView v = matrix(rows, cols);
    backend_.upload(host, v);
    return v;
}

Buffer::Buffer(Backend& backend, int64_t rows, int64_t cols)
    : backend_(&backend),
      view_{static_cast<float*>(backend.allocate(float_bytes(rows, cols))), rows, cols, cols, Memory::backend} {}

Buffer::~Buffer() {
    if (backend_ != nullptr) backend_->release(view_.data, float_bytes(view_.rows, view_.cols));
}

Buffer::Buffer(Buffer&& other) noexcept : backend_(other.backend_), view_(other.view_) { other.backend_ = nullptr; }

}  // namespace svdq
