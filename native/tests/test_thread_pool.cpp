#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/thread_pool.h"

namespace svdq {

TEST(ThreadPool, RunsEveryItemExactlyOnce) {
    for (int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        EXPECT_EQ(pool.size(), threads);
        for (int64_t count : {0, 1, 2, 7, 1000}) {
            std::vector<std::atomic<int>> hits(static_cast<size_t>(count));
            pool.parallel_for(count, [&](int64_t i) { hits[static_cast<size_t>(i)]++; });
            for (auto& h : hits) EXPECT_EQ(h.load(), 1);
        }
    }
}

TEST(ThreadPool, RethrowsTheBodysExceptionAndStaysUsable) {
    ThreadPool pool(2);
    EXPECT_THROW(pool.parallel_for(100, [](int64_t i) { if (i == 42) throw std::runtime_error("item 42"); }),
                 std::runtime_error);
    std::atomic<int64_t> sum{0};
    pool.parallel_for(10, [&](int64_t i) { sum += i; });
    EXPECT_EQ(sum.load(), 45);
}

TEST(ThreadPool, GivesEachThreadItsOwnScratchOfTheReservedSize) {
    ThreadPool pool(3);
    pool.reserve_scratch(1000);
    std::mutex mutex;
    std::set<float*> buffers;
    std::atomic<bool> overlapped{false};
    pool.parallel_for(300, [&](int64_t i) {
        float* s = pool.scratch();
        {
            std::lock_guard<std::mutex> lock(mutex);
            buffers.insert(s);
        }
        // A buffer shared by two threads would see the other's writes.
        const float mark = static_cast<float>(i);
        for (int j = 0; j < 1000; ++j) s[j] = mark;
        std::this_thread::yield();
        for (int j = 0; j < 1000; ++j)
            if (s[j] != mark) overlapped = true;
    });
    EXPECT_FALSE(overlapped.load());
    EXPECT_LE(buffers.size(), 3u);
    EXPECT_GE(buffers.size(), 1u);
}

TEST(ThreadPool, ScratchOfAReservedSizeIsNotReallocated) {
    ThreadPool pool(2);
    pool.reserve_scratch(4096);
    // Slot 0 is whichever thread calls, so its buffer is found from here too.
    float* caller_before = pool.scratch();
    pool.reserve_scratch(100);  // smaller: kept
    pool.reserve_scratch(4096);
    EXPECT_EQ(pool.scratch(), caller_before);
    std::thread([&] { EXPECT_EQ(pool.scratch(), caller_before) << "a new calling thread is slot 0 too"; }).join();
}

}  // namespace svdq
