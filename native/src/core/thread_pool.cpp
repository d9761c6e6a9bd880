#include "core/thread_pool.h"

namespace svdq {

namespace {

// Which of its pool's threads this is while it runs a loop: workers keep
// theirs, a caller is 0 for the length of its loop.
thread_local int t_slot = 0;

// Makes the calling thread slot 0 for one loop, restoring what it was.
class CallerSlot {
public:
    CallerSlot() : saved_(t_slot) { t_slot = 0; }
    ~CallerSlot() { t_slot = saved_; }
    CallerSlot(const CallerSlot&) = delete;
    CallerSlot& operator=(const CallerSlot&) = delete;

private:
    int saved_;
};

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
    if (num_threads <= 0) num_threads = static_cast<int>(std::thread::hardware_concurrency());
    if (num_threads <= 0) num_threads = 1;
    scratch_.resize(static_cast<size_t>(num_threads));
    workers_.reserve(static_cast<size_t>(num_threads - 1));
    for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
}

void ThreadPool::run_items() {
    // Items are claimed one at a time: callers pass coarse items (row or
    // column blocks), so the lock is cheap next to the work.
    for (;;) {
        int64_t item;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (next_ >= count_ || error_) return;
            item = next_++;
        }
        try {
            (*body_)(item);
        } catch (...) {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!error_) error_ = std::current_exception();
        }
    }
}

void ThreadPool::worker_loop(int slot) {
    t_slot = slot;
    uint64_t seen = 0;
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
            if (stopping_) return;
            seen = generation_;
        }
        run_items();
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (--active_ == 0) done_.notify_one();
        }
    }
}

void ThreadPool::parallel_for(int64_t count, FunctionRef<void(int64_t)> body) {
    if (count <= 0) return;
    const CallerSlot caller;
    if (workers_.empty() || count == 1) {
        for (int64_t i = 0; i < count; ++i) body(i);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        body_ = &body;
        count_ = count;
        next_ = 0;
        error_ = nullptr;
        active_ = static_cast<int>(workers_.size());
        ++generation_;
    }
    wake_.notify_all();
    run_items();
    std::exception_ptr error;
    {
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait(lock, [&] { return active_ == 0; });
        body_ = nullptr;
        error = error_;
    }
    if (error) std::rethrow_exception(error);
}

void ThreadPool::reserve_scratch(size_t floats) {
    for (auto& buffer : scratch_)
        if (buffer.size() < floats) buffer.resize(floats);
}

float* ThreadPool::scratch() { return scratch_[static_cast<size_t>(t_slot)].data(); }

}  // namespace svdq
