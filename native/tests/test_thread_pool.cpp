#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
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

}  // namespace svdq
