// Once a shape has run, another FLUX forward of that shape allocates nothing:
// activations live in the context's arena, kernels write into the caller's
// outputs, kernel scratch is the thread pool's, and the output goes straight
// into the caller's memory. Every heap
// allocation of this test binary is counted through operator new; the arena's
// requests to the backend are counted by the arena.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "backend/context.h"
#include "models/flux/flux_checkpoint.h"
#include "models/flux/flux_input_set.h"
#include "models/flux/flux_transformer.h"
#include "test_util.h"

namespace {

std::atomic<bool> counting{false};
std::atomic<uint64_t> allocations{0};

void* counted(size_t size, size_t align) {
    if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
    void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (size + align - 1) / align * align) : std::malloc(size ? size : 1);
    if (p == nullptr) throw std::bad_alloc();
    return p;
}

}  // namespace

void* operator new(size_t size) { return counted(size, 0); }
void* operator new[](size_t size) { return counted(size, 0); }
void* operator new(size_t size, std::align_val_t align) { return counted(size, static_cast<size_t>(align)); }
void* operator new[](size_t size, std::align_val_t align) { return counted(size, static_cast<size_t>(align)); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { std::free(p); }

using namespace svdq;

TEST(SteadyState, SecondFluxForwardOfTheSameShapeAllocatesNothing) {
    const std::string model = std::string(SVDQ_TEST_DATA_DIR) + "/flux-tiny";
    const FluxCheckpoint checkpoint(model);
    const FluxInputSet inputs = read_flux_inputs(SafeTensorsFile(model + "/inputs.safetensors"), checkpoint.config());
    const FluxInputs in = inputs.view();
    for (svdq_linear_scheme kind : {SVDQ_SCHEME_FLOAT, SVDQ_SCHEME_W4A16, SVDQ_SCHEME_W4A4}) {
        SCOPED_TRACE(kind);
        Context ctx(test::context_options());
        const FluxTransformer transformer(ctx, checkpoint, kind);
        std::vector<float> first(static_cast<size_t>(in.batch * in.img_tokens * checkpoint.config().output_features()));
        std::vector<float> second(first.size());
        transformer.forward(ctx, in, first.data());
        const uint64_t arena_before = ctx.arena().backend_allocations();

        // From another thread: kernel scratch belongs to the context's pool,
        // not to whichever thread calls, so a new caller allocates nothing.
        std::thread([&] {
            allocations = 0;
            counting = true;
            transformer.forward(ctx, in, second.data());
            counting = false;
        }).join();

        EXPECT_EQ(allocations.load(), 0u) << "heap allocations in the second forward";
        EXPECT_EQ(ctx.arena().backend_allocations(), arena_before) << "arena growth in the second forward";
        EXPECT_EQ(second, first);
    }
}

TEST(SteadyState, TheCounterSeesAllocations) {
    // The premise of the test above: allocations inside the window are counted.
    allocations = 0;
    counting = true;
    auto* v = new std::vector<float>(1000);
    counting = false;
    delete v;
    EXPECT_GE(allocations.load(), 2u);
}
