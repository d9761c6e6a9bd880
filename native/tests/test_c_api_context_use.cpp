// One context, one call at a time: a second call entering while one runs,
// from another thread or from the running call's own callback, fails with a
// named error and leaves the running call and the context intact.
#include <gtest/gtest.h>

#include <future>
#include <string>
#include <vector>

#include "svdquant.h"

namespace {

const std::string kModel = std::string(SVDQ_TEST_DATA_DIR) + "/flux-tiny";

// A small W4A4 layer and its input on a context of its own making.
struct SmallLayer {
    svdq_context* ctx = nullptr;
    svdq_linear* layer = nullptr;
    svdq_tensor *w = nullptr, *x = nullptr, *y = nullptr;

    SmallLayer() {
        svdq_context_options o{};
        svdq_context_options_init(&o);
        o.num_threads = 2;
        EXPECT_EQ(svdq_context_create(&o, &ctx), SVDQ_OK);
        const int64_t wshape[] = {8, 64}, xshape[] = {4, 64}, yshape[] = {4, 8};
        svdq_tensor_create(SVDQ_DTYPE_F32, wshape, 2, &w);
        svdq_tensor_create(SVDQ_DTYPE_F32, xshape, 2, &x);
        svdq_tensor_create(SVDQ_DTYPE_F32, yshape, 2, &y);
        fill(w, 0.25f);
        fill(x, 1.0f);
        svdq_linear_desc d{};
        d.struct_size = sizeof d;
        d.scheme = SVDQ_SCHEME_W4A4;
        d.format = SVDQ_FORMAT_INT4;
        d.weight = w;
        EXPECT_EQ(svdq_linear_create(ctx, &d, &layer), SVDQ_OK) << svdq_last_error_message();
    }
    ~SmallLayer() {
        svdq_linear_destroy(layer);
        for (svdq_tensor* t : {w, x, y}) svdq_tensor_destroy(t);
        svdq_context_destroy(ctx);
    }
    static void fill(svdq_tensor* t, float v) {
        void* p = nullptr;
        uint64_t bytes = 0;
        svdq_tensor_get_data(t, &p, &bytes);
        for (uint64_t i = 0; i < bytes / 4; ++i) static_cast<float*>(p)[i] = v;
    }
    svdq_status forward() const { return svdq_linear_forward(ctx, layer, x, y); }
};

// Runs svdq_flux_quantize on flux-tiny with `during` called from its first
// progress callback; the callback then cancels the run.
template <class During>
svdq_status quantize_calling(svdq_context* ctx, During during) {
    struct State {
        During* during;
    } state{&during};
    const std::string out = testing::TempDir() + "svdq_context_use.safetensors";
    return svdq_flux_quantize(
        ctx, kModel.c_str(), (kModel + "/inputs.safetensors").c_str(), out.c_str(), nullptr, nullptr, 0,
        [](void* user, const svdq_quantize_progress*) -> int32_t {
            (*static_cast<State*>(user)->during)();
            return 1;
        },
        &state);
}

void expect_busy(svdq_status status) {
    EXPECT_EQ(status, SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(svdq_last_error_message()).find("context is already running a call"), std::string::npos)
        << svdq_last_error_message();
}

}  // namespace

TEST(CApiContextUse, ASecondThreadIsRefusedWhileACallRuns) {
    SmallLayer l;
    bool refused_inside = false;
    const svdq_status status = quantize_calling(l.ctx, [&] {
        // Another thread, while this call is inside svdq_flux_quantize.
        const svdq_status other = std::async(std::launch::async, [&] {
                                      const svdq_status s = l.forward();
                                      expect_busy(s);
                                      return s;
                                  }).get();
        refused_inside = other == SVDQ_ERROR_INVALID_ARGUMENT;
    });
    EXPECT_EQ(status, SVDQ_ERROR_CANCELLED) << "the running call went on to its own end";
    EXPECT_TRUE(refused_inside);
    EXPECT_EQ(l.forward(), SVDQ_OK) << "the context is free again: " << svdq_last_error_message();
}

TEST(CApiContextUse, ACallbackCannotReenterItsContext) {
    SmallLayer l;
    const svdq_status status = quantize_calling(l.ctx, [&] { expect_busy(l.forward()); });
    EXPECT_EQ(status, SVDQ_ERROR_CANCELLED);
    EXPECT_EQ(l.forward(), SVDQ_OK) << svdq_last_error_message();
}

TEST(CApiContextUse, DestroyingARunningContextIsRefused) {
    SmallLayer l;
    quantize_calling(l.ctx, [&] {
        EXPECT_EQ(std::async(std::launch::async, [&] { return svdq_context_destroy(l.ctx); }).get(), SVDQ_ERROR_INVALID_ARGUMENT);
    });
    EXPECT_EQ(l.forward(), SVDQ_OK) << "still alive: " << svdq_last_error_message();
}

TEST(CApiContextUse, SeparateContextsRunAtOnce) {
    SmallLayer a, b;
    svdq_status inner = SVDQ_ERROR_INTERNAL;
    quantize_calling(a.ctx, [&] { inner = std::async(std::launch::async, [&] { return b.forward(); }).get(); });
    EXPECT_EQ(inner, SVDQ_OK) << svdq_last_error_message();
}
