// A fixed set of worker threads that run one parallel loop at a time. The
// calling thread takes part, so a pool of n threads starts n - 1 workers.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "core/aligned.h"
#include "core/function_ref.h"

namespace svdq {

class ThreadPool {
public:
    explicit ThreadPool(int num_threads);  // 0: one per hardware thread
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return static_cast<int>(workers_.size()) + 1; }

    // Calls body(i) for every i in [0, count), spread over all threads, and
    // returns when all are done. The first exception thrown is rethrown here.
    void parallel_for(int64_t count, FunctionRef<void(int64_t)> body);

    // Per-thread scratch for kernels, owned by the pool and kept across
    // loops. reserve_scratch grows every thread's buffer, from the calling
    // thread before a loop, so a loop of a size seen before allocates nothing
    // whichever thread takes which item (and whichever thread calls).
    // scratch() is the running thread's buffer, for use inside parallel_for.
    void reserve_scratch(size_t floats);
    float* scratch();

private:
    void worker_loop(int slot);
    void run_items();

    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    const FunctionRef<void(int64_t)>* body_ = nullptr;
    int64_t count_ = 0;
    int64_t next_ = 0;       // next unclaimed item, guarded by mutex_
    int active_ = 0;         // workers still inside the current loop
    uint64_t generation_ = 0;
    bool stopping_ = false;
    std::exception_ptr error_;
    // One buffer per thread: slot 0 is the caller's, slot i worker i's.
    std::vector<std::vector<float, AlignedAllocator<float>>> scratch_;
};

}  // namespace svdq
