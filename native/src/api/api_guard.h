// Every C entry point runs its body through guarded(): it clears the
// thread's last error, and turns every exception into a status code plus a
// message, so nothing C++ ever crosses the boundary.
#pragma once

#include <cstring>

#include <new>
#include <string>
#include <vector>

#include "backend/context.h"
#include "core/error.h"
#include "core/last_error.h"
#include "core/number_format.h"
#include "core/tensor.h"
#include "svdquant.h"

namespace svdq {

template <class Body>
svdq_status guarded(const char* function, Body&& body) noexcept {
    try {
        clear_last_error();
        body();
        return SVDQ_OK;
    } catch (const Error& e) {
        set_last_error(std::string(function) + ": " + e.what());
        return e.status();
    } catch (const std::bad_alloc&) {
        set_last_error(std::string(function) + ": out of memory");
        return SVDQ_ERROR_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        set_last_error(std::string(function) + ": internal error: " + e.what());
        return SVDQ_ERROR_INTERNAL;
    } catch (...) {
        set_last_error(std::string(function) + ": internal error: unknown exception");
        return SVDQ_ERROR_INTERNAL;
    }
}

template <class T>
T& deref(T* p, const char* name) {
    require(p != nullptr, SVDQ_ERROR_INVALID_ARGUMENT, std::string(name) + " is NULL");
    return *p;
}

// A C API call on a context: the context runs one call at a time (its
// thread pool and scratch serve one caller), so a second call entering while
// one runs, from another thread or from a callback, fails with a named error
// instead of racing on the scratch or deadlocking the pool.
class ContextCall {
public:
    explicit ContextCall(svdq_context* context) : context_(deref(context, "context")) {
        require(!context_.in_call.exchange(true, std::memory_order_acquire), SVDQ_ERROR_INVALID_ARGUMENT,
                "context is already running a call (from another thread, or re-entered from a callback); a context "
                "serves one call at a time: give each thread its own context");
    }
    ~ContextCall() { context_.in_call.store(false, std::memory_order_release); }
    ContextCall(const ContextCall&) = delete;
    ContextCall& operator=(const ContextCall&) = delete;

    svdq_context& context() const { return context_; }

private:
    svdq_context& context_;
};

// The F32 output tensor `out`, which must have exactly `shape`.
inline float* output_tensor(svdq_tensor* out, const std::vector<int64_t>& shape) {
    return f32_output(deref(out, "out"), shape, "out");
}

// Versioned structs. struct_size is the size of the struct the caller was
// compiled with: a caller built against an older, smaller svdquant.h passes a
// smaller one, and the fields past it take their defaults (inputs) or are not
// written (outputs). A larger size (a newer header than this library) is refused.
inline void require_struct_size(uint32_t size, size_t this_size, const char* name) {
    if (size < sizeof(uint32_t) || size > this_size)
        fail(SVDQ_ERROR_INVALID_ARGUMENT, std::string(name) + "->struct_size is " + std::to_string(size) + "; set it to sizeof(" +
                                              name + ") (this library's is " + std::to_string(this_size) +
                                              "; a smaller one from an older svdquant.h is accepted)");
}

// The caller's fields over `defaults`.
template <class S>
S read_versioned(const S& given, S defaults, const char* name) {
    require_struct_size(given.struct_size, sizeof(S), name);
    std::memcpy(&defaults, &given, given.struct_size);
    defaults.struct_size = sizeof(S);
    return defaults;
}

// The part of `value` the caller's struct has room for; out.struct_size stays.
template <class S>
void write_versioned(S& out, const S& value, const char* name) {
    const uint32_t size = out.struct_size;
    require_struct_size(size, sizeof(S), name);
    std::memcpy(&out, &value, size);
    out.struct_size = size;
}

}  // namespace svdq
