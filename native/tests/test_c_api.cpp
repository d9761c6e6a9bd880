// The C API as a host sees it: status codes, messages and every bad-input
// path, through the shipped shared library.
#include <gtest/gtest.h>

#include <cstddef>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "posix_env.h"
#include "quant_reference.h"
#include "svdquant.h"

namespace {

std::string last_error() { return svdq_last_error_message(); }

std::vector<float> gaussian(int64_t count, uint64_t seed, float stddev = 1.0f) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> dist(0.0f, stddev);
    std::vector<float> v(static_cast<size_t>(count));
    for (float& e : v) e = dist(rng);
    return v;
}

class Tensor {
public:
    Tensor(std::vector<int64_t> shape, int32_t dtype = SVDQ_DTYPE_F32) {
        EXPECT_EQ(svdq_tensor_create(dtype, shape.data(), static_cast<int32_t>(shape.size()), &t_), SVDQ_OK) << last_error();
    }
    Tensor(std::vector<int64_t> shape, std::vector<float>& data) {
        EXPECT_EQ(svdq_tensor_wrap(SVDQ_DTYPE_F32, shape.data(), static_cast<int32_t>(shape.size()), data.data(),
                                   data.size() * sizeof(float), &t_),
                  SVDQ_OK)
            << last_error();
    }
    ~Tensor() { svdq_tensor_destroy(t_); }
    Tensor(const Tensor&) = delete;
    Tensor& operator=(const Tensor&) = delete;
    svdq_tensor* get() const { return t_; }
    float* f32() const {
        void* p = nullptr;
        svdq_tensor_get_data(t_, &p, nullptr);
        return static_cast<float*>(p);
    }

private:
    svdq_tensor* t_ = nullptr;
};

class CApi : public testing::Test {
protected:
    void SetUp() override {
        svdq_context_options o;
        ASSERT_EQ(svdq_context_options_init(&o), SVDQ_OK);
        o.num_threads = 2;
        ASSERT_EQ(svdq_context_create(&o, &ctx_), SVDQ_OK) << last_error();
    }
    void TearDown() override { EXPECT_EQ(svdq_context_destroy(ctx_), SVDQ_OK); }

    svdq_linear_desc desc(int32_t scheme, const Tensor& weight) const {
        svdq_linear_desc d{};
        d.struct_size = sizeof d;
        d.scheme = scheme;
        d.format = scheme == SVDQ_SCHEME_FLOAT ? SVDQ_FORMAT_FLOAT : SVDQ_FORMAT_INT4;
        d.weight = weight.get();
        return d;
    }

    // Expects `status`, and a message that names `needle`.
    static void expect_error(svdq_status got, svdq_status want, const std::string& needle) {
        EXPECT_EQ(got, want) << last_error();
        EXPECT_NE(last_error().find(needle), std::string::npos) << "message '" << last_error() << "' lacks '" << needle << "'";
    }

    svdq_context* ctx_ = nullptr;
};

}  // namespace

TEST(CApiLibrary, ReportsVersionAndAbi) {
    EXPECT_EQ(svdq_abi_version(), SVDQ_ABI_VERSION);
    EXPECT_STREQ(svdq_version(), "0.1.0");
}

TEST(CApiLibrary, DestroyAcceptsNull) {
    EXPECT_EQ(svdq_context_destroy(nullptr), SVDQ_OK);
    EXPECT_EQ(svdq_tensor_destroy(nullptr), SVDQ_OK);
    EXPECT_EQ(svdq_linear_destroy(nullptr), SVDQ_OK);
}

TEST(CApiLibrary, ContextOptionsAreValidated) {
    svdq_context* ctx = reinterpret_cast<svdq_context*>(0x1);
    svdq_context_options o;
    svdq_context_options_init(&o);
    o.backend = SVDQ_BACKEND_CUDA;
    EXPECT_EQ(svdq_context_create(&o, &ctx), SVDQ_ERROR_UNSUPPORTED);
    EXPECT_EQ(ctx, nullptr) << "a failed create must leave the out-handle NULL";
    EXPECT_NE(last_error().find("CUDA"), std::string::npos);
    svdq_context_options_init(&o);
    for (uint32_t size : {uint32_t{2}, uint32_t{sizeof o + 8}}) {  // shorter than struct_size itself; a newer header's
        o.struct_size = size;
        EXPECT_EQ(svdq_context_create(&o, &ctx), SVDQ_ERROR_INVALID_ARGUMENT);
        EXPECT_NE(last_error().find("struct_size"), std::string::npos);
    }
    svdq_context_options_init(&o);
    o.num_threads = -3;
    EXPECT_EQ(svdq_context_create(&o, &ctx), SVDQ_ERROR_INVALID_ARGUMENT);
    svdq_context_options_init(&o);
    o.cpu_level = 99;
    EXPECT_EQ(svdq_context_create(&o, &ctx), SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(svdq_context_create(nullptr, nullptr), SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(last_error().find("out_context"), std::string::npos);
}

TEST(CApiLibrary, LogCallbackHearsTheContextStart) {
    std::string heard;
    svdq_context_options o;
    svdq_context_options_init(&o);
    o.log_callback = [](int32_t level, const char* message, void* user) {
        if (level == SVDQ_LOG_INFO) *static_cast<std::string*>(user) += message;
    };
    o.log_user = &heard;
    svdq_context* ctx = nullptr;
    ASSERT_EQ(svdq_context_create(&o, &ctx), SVDQ_OK);
    EXPECT_NE(heard.find("CPU backend"), std::string::npos) << heard;
    svdq_context_info info{};
    info.struct_size = sizeof info;
    ASSERT_EQ(svdq_context_get_info(ctx, &info), SVDQ_OK);
    EXPECT_GE(info.num_threads, 1);
    EXPECT_NE(info.cpu_level, SVDQ_CPU_AUTO);
    svdq_context_destroy(ctx);
}

TEST(CApiLibrary, EnvironmentCapsTheCpuLevel) {
    setenv("SVDQ_CPU_LEVEL", "scalar", 1);
    svdq_context* ctx = nullptr;
    ASSERT_EQ(svdq_context_create(nullptr, &ctx), SVDQ_OK);
    svdq_context_info info{};
    info.struct_size = sizeof info;
    svdq_context_get_info(ctx, &info);
    EXPECT_EQ(info.cpu_level, SVDQ_CPU_SCALAR);
    svdq_context_destroy(ctx);
    setenv("SVDQ_CPU_LEVEL", "avx9000", 1);
    EXPECT_EQ(svdq_context_create(nullptr, &ctx), SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(last_error().find("avx9000"), std::string::npos);
    unsetenv("SVDQ_CPU_LEVEL");
}

TEST(CApiLibrary, TensorsValidateShapeAndBuffer) {
    svdq_tensor* t = nullptr;
    int64_t shape[] = {2, 3};
    float data[6] = {};
    EXPECT_EQ(svdq_tensor_wrap(SVDQ_DTYPE_F32, shape, 2, data, 20, &t), SVDQ_ERROR_SHAPE_MISMATCH);
    EXPECT_NE(last_error().find("needs 24"), std::string::npos) << last_error();
    EXPECT_EQ(svdq_tensor_wrap(SVDQ_DTYPE_F32, shape, 2, nullptr, 24, &t), SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(svdq_tensor_create(42, shape, 2, &t), SVDQ_ERROR_DTYPE);
    int64_t negative[] = {2, -1};
    EXPECT_EQ(svdq_tensor_create(SVDQ_DTYPE_F32, negative, 2, &t), SVDQ_ERROR_SHAPE_MISMATCH);
    EXPECT_EQ(svdq_tensor_create(SVDQ_DTYPE_F32, shape, SVDQ_MAX_DIMS + 1, &t), SVDQ_ERROR_INVALID_ARGUMENT);
    int64_t huge[] = {INT64_C(1) << 40, INT64_C(1) << 40};
    EXPECT_EQ(svdq_tensor_create(SVDQ_DTYPE_F32, huge, 2, &t), SVDQ_ERROR_SHAPE_MISMATCH);
    // 128 TiB, more than an x86-64 process can map: a clean out-of-memory, not a
    // crash (and fast: wine took 30 s to refuse 16 TiB)
    int64_t big[] = {INT64_C(1) << 47};
    EXPECT_EQ(svdq_tensor_create(SVDQ_DTYPE_U8, big, 1, &t), SVDQ_ERROR_OUT_OF_MEMORY);
    EXPECT_EQ(t, nullptr);

    ASSERT_EQ(svdq_tensor_create(SVDQ_DTYPE_BF16, shape, 2, &t), SVDQ_OK);
    int32_t dtype = -1, ndim = -1;
    int64_t got[SVDQ_MAX_DIMS];
    ASSERT_EQ(svdq_tensor_get_shape(t, &dtype, &ndim, got), SVDQ_OK);
    EXPECT_EQ(dtype, SVDQ_DTYPE_BF16);
    EXPECT_EQ(ndim, 2);
    EXPECT_EQ(got[0], 2);
    EXPECT_EQ(got[1], 3);
    EXPECT_EQ(got[2], 0);
    void* p = nullptr;
    uint64_t bytes = 0;
    ASSERT_EQ(svdq_tensor_get_data(t, &p, &bytes), SVDQ_OK);
    EXPECT_EQ(bytes, 12u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
    svdq_tensor_destroy(t);
    EXPECT_EQ(svdq_tensor_get_data(nullptr, &p, &bytes), SVDQ_ERROR_INVALID_ARGUMENT);
}

// Each kind against its float64 definition: FLOAT against X W^T + b, W4A16
// against X Q(W)^T + b and W4A4 against A(X) Q(W)^T + b, with Q and A the
// canonical INT4 quantizers written in quant_reference.h; what is left is fp32
// accumulation. The bias is as large as the products (|b| up to 3, |X W^T| ~3).
// W4A16 reads X rounded to BF16 at the avx512_bf16 level (its BF16 dot
// products), so its definition does too there.
TEST_F(CApi, ForwardMatchesFloatMathForEveryKind) {
    const int64_t m = 3, n = 5, k = 128;
    std::vector<float> w(n * k), x(m * k), b(n);
    for (size_t i = 0; i < w.size(); ++i) w[i] = std::sin(0.37f * static_cast<float>(i));
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::cos(0.11f * static_cast<float>(i));
    for (size_t i = 0; i < b.size(); ++i) b[i] = 3.0f * std::cos(2.1f * static_cast<float>(i) + 0.3f);
    Tensor wt({n, k}, w), xt({m, k}, x), bt({n}, b), yt({m, n});
    const std::vector<double> exact = svdq::ref::matmul(x.data(), m, w.data(), n, k, b.data());
    const std::vector<double> qw = svdq::ref::int4_weights(w.data(), n, k);
    svdq_context_info ctx_info{};
    ctx_info.struct_size = sizeof ctx_info;
    ASSERT_EQ(svdq_context_get_info(ctx_, &ctx_info), SVDQ_OK);
    const bool bf16_x = ctx_info.cpu_level == SVDQ_CPU_AVX512_BF16;
    std::vector<double> w4a16(m * n), w4a4(m * n);
    for (int64_t i = 0; i < m; ++i) {
        const std::vector<double> a = svdq::ref::int4_activations(x.data() + i * k, k, nullptr, 0.0f, false);
        for (int64_t o = 0; o < n; ++o) {
            double s16 = b[o], s4 = b[o];
            for (int64_t j = 0; j < k; ++j) {
                s16 += static_cast<double>(bf16_x ? svdq::ref::bf16(x[i * k + j]) : x[i * k + j]) * qw[o * k + j];
                s4 += a[j] * qw[o * k + j];
            }
            w4a16[i * n + o] = s16;
            w4a4[i * n + o] = s4;
        }
    }
    const std::vector<double>* definitions[] = {&exact, &w4a16, &w4a4};
    // Error against exact float math, measured: 0, 0.0514 (W4A16), 0.0598 (W4A4); bounds ~10% above.
    const double quantization_error[] = {1e-6, 0.056, 0.066};
    for (int32_t kind : {SVDQ_SCHEME_FLOAT, SVDQ_SCHEME_W4A16, SVDQ_SCHEME_W4A4}) {
        svdq_linear_desc d = desc(kind, wt);
        d.bias = bt.get();
        svdq_linear* layer = nullptr;
        ASSERT_EQ(svdq_linear_create(ctx_, &d, &layer), SVDQ_OK) << last_error();
        ASSERT_EQ(svdq_linear_forward(ctx_, layer, xt.get(), yt.get()), SVDQ_OK) << last_error();
        const std::vector<float> y(yt.f32(), yt.f32() + m * n);
        EXPECT_LT(svdq::ref::max_rel(y, *definitions[kind]), 1e-6) << "kind " << kind;
        const double error = svdq::ref::frobenius_rel(y, exact);
        std::printf("kind %d: error against float math %.4f\n", kind, error);
        EXPECT_LT(error, quantization_error[kind]) << "kind " << kind;
        svdq_linear_info info{};
        info.struct_size = sizeof info;
        ASSERT_EQ(svdq_linear_get_info(layer, &info), SVDQ_OK);
        EXPECT_EQ(info.scheme, kind);
        EXPECT_EQ(info.format, kind == SVDQ_SCHEME_FLOAT ? SVDQ_FORMAT_FLOAT : SVDQ_FORMAT_INT4);
        EXPECT_EQ(info.in_features, k);
        EXPECT_EQ(info.out_features, n);
        EXPECT_EQ(info.has_bias, 1);
        // Packed layouts may pad N up to a SIMD panel of at most 16 columns;
        // 4-bit values two per byte with one BF16 scale per 64.
        auto bytes = [&](int64_t rows) { return kind == SVDQ_SCHEME_FLOAT ? rows * k * 4 : rows * k / 2 + rows * (k / 64) * 2; };
        EXPECT_GE(info.weight_bytes, static_cast<uint64_t>(bytes(n) + n * 4));
        EXPECT_LE(info.weight_bytes, static_cast<uint64_t>(bytes(16) + n * 4));
        svdq_linear_destroy(layer);
    }
}

TEST_F(CApi, CreateRejectsBadDescriptors) {
    std::vector<float> w(4 * 96, 0.5f), w64(4 * 64, 0.5f);
    Tensor wt({4, 96}, w), w64t({4, 64}, w64);
    svdq_linear* layer = nullptr;

    svdq_linear_desc d = desc(SVDQ_SCHEME_W4A4, wt);
    expect_error(svdq_linear_create(ctx_, &d, &layer), SVDQ_ERROR_SHAPE_MISMATCH, "multiple of the INT4 group size 64");
    d = desc(SVDQ_SCHEME_FLOAT, wt);  // float layers take any K
    ASSERT_EQ(svdq_linear_create(ctx_, &d, &layer), SVDQ_OK);
    svdq_linear_destroy(layer);

    d = desc(SVDQ_SCHEME_W4A4, w64t);
    d.struct_size = sizeof d + 4;
    expect_error(svdq_linear_create(ctx_, &d, &layer), SVDQ_ERROR_INVALID_ARGUMENT, "struct_size");
    d = desc(7, w64t);
    expect_error(svdq_linear_create(ctx_, &d, &layer), SVDQ_ERROR_INVALID_ARGUMENT, "scheme 7");
    d = desc(SVDQ_SCHEME_W4A4, w64t);
    d.format = 9;
    expect_error(svdq_linear_create(ctx_, &d, &layer), SVDQ_ERROR_INVALID_ARGUMENT, "format 9 is not a svdq_number_format");
    // Pairs that do not exist are refused by name, never run in another format.
    const std::pair<int32_t, int32_t> impossible[] = {{SVDQ_SCHEME_W4A16, SVDQ_FORMAT_NVFP4}, {SVDQ_SCHEME_W4A4, SVDQ_FORMAT_FLOAT},
                                                      {SVDQ_SCHEME_W4A16, SVDQ_FORMAT_FLOAT}, {SVDQ_SCHEME_FLOAT, SVDQ_FORMAT_INT4}};
    const char* names[] = {"a W4A16 layer in format NVFP4 does not exist", "a W4A4 layer in format FLOAT does not exist",
                           "a W4A16 layer in format FLOAT does not exist", "a FLOAT layer in format INT4 does not exist"};
    for (size_t i = 0; i < std::size(impossible); ++i) {
        d = desc(impossible[i].first, w64t);
        d.format = impossible[i].second;
        expect_error(svdq_linear_create(ctx_, &d, &layer), SVDQ_ERROR_UNSUPPORTED, names[i]);
    }
    d = desc(SVDQ_SCHEME_W4A4, w64t);
    d.branch_execution = 5;
    expect_error(svdq_linear_create(ctx_, &d, &layer), SVDQ_ERROR_INVALID_ARGUMENT, "branch_execution 5");
    d = desc(SVDQ_SCHEME_W4A4, w64t);
    d.weight = nullptr;
    expect_error(svdq_linear_create(ctx_, &d, &layer), SVDQ_ERROR_INVALID_ARGUMENT, "weight is NULL");
    d = desc(SVDQ_SCHEME_W4A4, w64t);
    expect_error(svdq_linear_create(nullptr, &d, &layer), SVDQ_ERROR_INVALID_ARGUMENT, "context is NULL");
    expect_error(svdq_linear_create(ctx_, nullptr, &layer), SVDQ_ERROR_INVALID_ARGUMENT, "desc is NULL");
    expect_error(svdq_linear_create(ctx_, &d, nullptr), SVDQ_ERROR_INVALID_ARGUMENT, "out_linear is NULL");

    Tensor bias({5});
    d.bias = bias.get();
    expect_error(svdq_linear_create(ctx_, &d, &layer), SVDQ_ERROR_SHAPE_MISMATCH, "bias has shape [5], expected [4]");

    d = desc(SVDQ_SCHEME_W4A4, w64t);
    Tensor up({4, 8}), down({8, 32});
    d.lowrank_up = up.get();
    expect_error(svdq_linear_create(ctx_, &d, &layer), SVDQ_ERROR_INVALID_ARGUMENT, "given together");
    d.lowrank_down = down.get();
    expect_error(svdq_linear_create(ctx_, &d, &layer), SVDQ_ERROR_SHAPE_MISMATCH, "lowrank_down has shape [8, 32], expected [8, 64]");

    d = desc(SVDQ_SCHEME_W4A16, w64t);
    Tensor smooth({64});
    d.smooth = smooth.get();
    expect_error(svdq_linear_create(ctx_, &d, &layer), SVDQ_ERROR_INVALID_ARGUMENT, "W4A4 layers only");
    d.scheme = SVDQ_SCHEME_W4A4;  // smooth is all zero
    d.format = SVDQ_FORMAT_INT4;
    expect_error(svdq_linear_create(ctx_, &d, &layer), SVDQ_ERROR_INVALID_ARGUMENT, "must be positive");

    std::vector<float> bad = w64;
    bad[70] = std::nanf("");
    Tensor badt({4, 64}, bad);
    d = desc(SVDQ_SCHEME_W4A4, badt);
    expect_error(svdq_linear_create(ctx_, &d, &layer), SVDQ_ERROR_NON_FINITE, "weight holds a non-finite value");
    bad[70] = INFINITY;
    expect_error(svdq_linear_create(ctx_, &d, &layer), SVDQ_ERROR_NON_FINITE, "flat index 70");

    Tensor ints({4, 64}, SVDQ_DTYPE_I32);
    d = desc(SVDQ_SCHEME_FLOAT, ints);
    expect_error(svdq_linear_create(ctx_, &d, &layer), SVDQ_ERROR_DTYPE, "weight must be F32, F16 or BF16");
    EXPECT_EQ(layer, nullptr);
}

// A caller compiled against an older svdquant.h passes its smaller struct:
// inputs past its size take their defaults, outputs past it are not written.
TEST_F(CApi, StructsFromAnOlderHeaderWork) {
    svdq_context_options o;
    svdq_context_options_init(&o);
    o.num_threads = 1;
    o.cpu_level = 99;   // past the older struct: must not be read
    o.log_level = 99;
    o.struct_size = offsetof(svdq_context_options, cpu_level);
    svdq_context* ctx = nullptr;
    ASSERT_EQ(svdq_context_create(&o, &ctx), SVDQ_OK) << last_error();
    svdq_context_info ci;
    ci.struct_size = offsetof(svdq_context_info, cpu_level);
    ci.cpu_level = -7;  // past the caller's struct: must stay
    ASSERT_EQ(svdq_context_get_info(ctx, &ci), SVDQ_OK) << last_error();
    EXPECT_EQ(ci.num_threads, 1) << "a field inside the older struct is read and written";
    EXPECT_EQ(ci.cpu_level, -7);
    EXPECT_EQ(ci.struct_size, offsetof(svdq_context_info, cpu_level));
    svdq_context_destroy(ctx);

    // A descriptor without branch_execution and format: the defaults (fused, INT4).
    std::vector<float> w = gaussian(32 * 64, 5, 0.1f);
    Tensor weight({32, 64}, w);
    svdq_linear_desc d = desc(SVDQ_SCHEME_W4A4, weight);
    d.branch_execution = 77;
    d.format = 77;
    d.struct_size = offsetof(svdq_linear_desc, branch_execution);
    svdq_linear* layer = nullptr;
    ASSERT_EQ(svdq_linear_create(ctx_, &d, &layer), SVDQ_OK) << last_error();
    svdq_linear_info info;
    info.struct_size = offsetof(svdq_linear_info, format);
    info.format = -5;
    ASSERT_EQ(svdq_linear_get_info(layer, &info), SVDQ_OK) << last_error();
    EXPECT_EQ(info.scheme, SVDQ_SCHEME_W4A4);
    EXPECT_EQ(info.branch_execution, SVDQ_BRANCH_FUSED);
    EXPECT_EQ(info.out_features, 32);
    EXPECT_EQ(info.format, -5) << "written past the caller's struct_size";
    svdq_linear_destroy(layer);
}

TEST_F(CApi, AcceptsHalfPrecisionWeights) {
    // 1.0 in F16 is 0x3C00 and in BF16 0x3F80.
    for (auto [dtype, one] : {std::pair{SVDQ_DTYPE_F16, uint16_t{0x3C00}}, std::pair{SVDQ_DTYPE_BF16, uint16_t{0x3F80}}}) {
        Tensor wt({1, 64}, dtype);
        void* p = nullptr;
        svdq_tensor_get_data(wt.get(), &p, nullptr);
        for (int i = 0; i < 64; ++i) static_cast<uint16_t*>(p)[i] = one;
        svdq_linear_desc d = desc(SVDQ_SCHEME_FLOAT, wt);
        svdq_linear* layer = nullptr;
        ASSERT_EQ(svdq_linear_create(ctx_, &d, &layer), SVDQ_OK) << last_error();
        std::vector<float> x(64, 0.5f);
        Tensor xt({1, 64}, x), yt({1, 1});
        ASSERT_EQ(svdq_linear_forward(ctx_, layer, xt.get(), yt.get()), SVDQ_OK);
        EXPECT_FLOAT_EQ(yt.f32()[0], 32.0f);
        svdq_linear_destroy(layer);
    }
}

TEST_F(CApi, ForwardRejectsBadTensors) {
    std::vector<float> w(4 * 64, 0.25f);
    Tensor wt({4, 64}, w);
    svdq_linear_desc d = desc(SVDQ_SCHEME_W4A4, wt);
    svdq_linear* layer = nullptr;
    ASSERT_EQ(svdq_linear_create(ctx_, &d, &layer), SVDQ_OK);

    Tensor x({2, 64}), y({2, 4});
    Tensor x_wrong_k({2, 32}), y_wrong_rows({3, 4}), y_wrong_n({2, 5}), x_f16({2, 64}, SVDQ_DTYPE_F16);
    expect_error(svdq_linear_forward(ctx_, layer, x_wrong_k.get(), y.get()), SVDQ_ERROR_SHAPE_MISMATCH, "last dimension must be 64");
    expect_error(svdq_linear_forward(ctx_, layer, x.get(), y_wrong_rows.get()), SVDQ_ERROR_SHAPE_MISMATCH, "same leading dimensions");
    expect_error(svdq_linear_forward(ctx_, layer, x.get(), y_wrong_n.get()), SVDQ_ERROR_SHAPE_MISMATCH, "last dimension must be 4");
    expect_error(svdq_linear_forward(ctx_, layer, x_f16.get(), y.get()), SVDQ_ERROR_DTYPE, "x must be F32");
    expect_error(svdq_linear_forward(ctx_, layer, nullptr, y.get()), SVDQ_ERROR_INVALID_ARGUMENT, "x is NULL");
    expect_error(svdq_linear_forward(ctx_, nullptr, x.get(), y.get()), SVDQ_ERROR_INVALID_ARGUMENT, "linear is NULL");
    expect_error(svdq_linear_forward(nullptr, layer, x.get(), y.get()), SVDQ_ERROR_INVALID_ARGUMENT, "context is NULL");
    x.f32()[64 + 5] = std::nanf("");
    x.f32()[64 + 60] = INFINITY;  // a later block of the parallel check: the first one is named
    expect_error(svdq_linear_forward(ctx_, layer, x.get(), y.get()), SVDQ_ERROR_NON_FINITE, "(NaN) at row 1, column 5");

    svdq_linear_destroy(layer);
}

// A 3-D batch [2, 3, K] -> [2, 3, N] is the 2-D forward of its 6 rows, bit for
// bit. Inputs and weights lie on the INT4 grid with power-of-two steps (each
// group holds +-7 steps), so the W4A4 layer computes X W^T + b exactly up to
// fp32 accumulation: the float64 sum is the reference.
TEST_F(CApi, ForwardFlattensLeadingDimensions) {
    const int64_t n = 12, k = 128, rows = 6;
    std::vector<float> w(n * k), x(rows * k), b(n);
    for (int64_t i = 0; i < n * k; ++i) w[i] = (i % 64 == 5 ? 7.0f : static_cast<float>((i * 7 + i / k) % 15 - 7)) / 64.0f;
    for (int64_t i = 0; i < rows * k; ++i) x[i] = (i % 64 == 9 ? -7.0f : static_cast<float>((i * 11 + 3 * (i / k)) % 15 - 7)) / 8.0f;
    for (int64_t o = 0; o < n; ++o) b[o] = 2.0f * std::sin(1.7f * static_cast<float>(o) + 0.2f);
    Tensor wt({n, k}, w), bt({n}, b), x3({2, 3, k}, x), x2({rows, k}, x), y3({2, 3, n}), y2({rows, n});
    svdq_linear_desc d = desc(SVDQ_SCHEME_W4A4, wt);
    d.bias = bt.get();
    svdq_linear* layer = nullptr;
    ASSERT_EQ(svdq_linear_create(ctx_, &d, &layer), SVDQ_OK) << last_error();
    ASSERT_EQ(svdq_linear_forward(ctx_, layer, x3.get(), y3.get()), SVDQ_OK) << last_error();
    EXPECT_STREQ(svdq_last_error_message(), "") << "success clears the last error";
    ASSERT_EQ(svdq_linear_forward(ctx_, layer, x2.get(), y2.get()), SVDQ_OK) << last_error();
    const std::vector<float> batch(y3.f32(), y3.f32() + rows * n), flat(y2.f32(), y2.f32() + rows * n);
    EXPECT_EQ(batch, flat);
    EXPECT_LT(svdq::ref::max_rel(batch, svdq::ref::matmul(x.data(), rows, w.data(), n, k, b.data())), 1e-6);
    svdq_linear_destroy(layer);
}

// The quantizer's building blocks against float64 math written here:
// svdq_smooth_compute against lambda_j = max|X_j|^a / max|W_j|^b;
// svdq_lowrank_decompose against Eigen's float64 SVD of W * lambda (down's
// rows orthonormal, up = U S with orthogonal columns of norms s_i, and
// ||W lambda - up down||_F the Eckart-Young optimum sqrt(sum_{i >= r} s_i^2));
// and the SVDQuant layer built from them against ref::layer_output.
TEST_F(CApi, QuantizerBuildingBlocksFeedASvdQuantLayer) {
    const int64_t m = 32, n = 96, k = 256, rank = 16;
    const float alpha = 0.6f, beta = 0.3f;  // unequal, so swapping them shows
    // X with outlier channels; W with a decaying spectrum (24 directions of
    // weight 0.85^q) over noise, so the rank-16 truncation leaves a real tail.
    std::vector<float> x = gaussian(m * k, 1), w = gaussian(n * k, 2, 0.01f), b = gaussian(n, 3, 2.0f);
    for (int64_t i = 0; i < m * k; ++i) x[i] *= (i % k) % 50 == 1 ? 40.0f : 1.0f;
    const std::vector<float> left = gaussian(n * 24, 4), right = gaussian(24 * k, 5, 0.1f);
    for (int64_t o = 0; o < n; ++o)
        for (int64_t q = 0; q < 24; ++q)
            for (int64_t j = 0; j < k; ++j) w[o * k + j] += std::pow(0.85f, static_cast<float>(q)) * left[o * 24 + q] * right[q * k + j];
    Tensor xt({m, k}, x), wt({n, k}, w), bt({n}, b), smooth({k}), up({n, rank}), down({rank, k}), y({m, n});
    ASSERT_EQ(svdq_smooth_compute(ctx_, xt.get(), wt.get(), alpha, beta, smooth.get()), SVDQ_OK) << last_error();
    for (int64_t j = 0; j < k; ++j) {
        double xmax = 0, wmax = 0;
        for (int64_t i = 0; i < m; ++i) xmax = std::max(xmax, std::fabs(static_cast<double>(x[i * k + j])));
        for (int64_t o = 0; o < n; ++o) wmax = std::max(wmax, std::fabs(static_cast<double>(w[o * k + j])));
        const double want = std::pow(xmax, alpha) / std::pow(wmax, beta);
        ASSERT_NEAR(smooth.f32()[j], want, 1e-6 * want) << "channel " << j;  // fp32 pow
    }

    ASSERT_EQ(svdq_lowrank_decompose(ctx_, wt.get(), smooth.get(), static_cast<int32_t>(rank), up.get(), down.get()), SVDQ_OK)
        << last_error();
    using MatrixD = Eigen::MatrixXd;
    MatrixD smoothed(n, k), u(n, rank), v(rank, k);
    for (int64_t o = 0; o < n; ++o)
        for (int64_t j = 0; j < k; ++j) smoothed(o, j) = static_cast<double>(w[o * k + j]) * smooth.f32()[j];
    for (int64_t i = 0; i < n * rank; ++i) u(i / rank, i % rank) = up.f32()[i];
    for (int64_t i = 0; i < rank * k; ++i) v(i / k, i % k) = down.f32()[i];
    const Eigen::VectorXd s = Eigen::JacobiSVD<MatrixD>(smoothed).singularValues();
    EXPECT_LT((v * v.transpose() - MatrixD::Identity(rank, rank)).cwiseAbs().maxCoeff(), 1e-5) << "down = V^T, orthonormal rows";
    const MatrixD gram = u.transpose() * u;  // diag(s_i^2) for up = U S
    for (int64_t p = 0; p < rank; ++p)
        for (int64_t q = 0; q < rank; ++q)
            EXPECT_NEAR(gram(p, q), p == q ? s(p) * s(p) : 0.0, 1e-4 * s(0) * s(0)) << p << ", " << q;
    const double optimum = std::sqrt(s.tail(s.size() - rank).squaredNorm());
    const double residual = (smoothed - u * v).norm();
    std::printf("rank-%d residual %.6f, Eckart-Young optimum %.6f (ratio - 1 = %.2e; s_0 %.3f, s_15 %.3f, s_16 %.3f)\n",
                static_cast<int>(rank), residual, optimum, residual / optimum - 1.0, s(0), s(rank - 1), s(rank));
    EXPECT_LT(residual, optimum * (1.0 + 1e-6));  // measured 1.6e-11 above
    EXPECT_GT(residual, optimum * (1.0 - 1e-6));

    svdq_linear_desc d = desc(SVDQ_SCHEME_W4A4, wt);
    d.bias = bt.get();
    d.smooth = smooth.get();
    d.lowrank_up = up.get();
    d.lowrank_down = down.get();
    svdq_linear* layer = nullptr;
    ASSERT_EQ(svdq_linear_create(ctx_, &d, &layer), SVDQ_OK) << last_error();
    svdq_linear_info info{};
    info.struct_size = sizeof info;
    svdq_linear_get_info(layer, &info);
    EXPECT_EQ(info.rank, rank);
    EXPECT_EQ(info.has_smooth, 1);
    ASSERT_EQ(svdq_linear_forward(ctx_, layer, xt.get(), y.get()), SVDQ_OK) << last_error();
    svdq_linear_destroy(layer);
    svdq::ref::Layer ref;
    ref.n = n;
    ref.k = k;
    ref.rank = rank;
    ref.weight = w.data();
    ref.bias = b.data();
    ref.smooth = smooth.f32();
    ref.up = up.f32();
    ref.down = down.f32();
    const std::vector<float> got(y.f32(), y.f32() + m * n);
    const double to_definition = svdq::ref::max_rel(got, svdq::ref::layer_output(ref, x.data(), m));
    const double to_float = svdq::ref::frobenius_rel(got, svdq::ref::matmul(x.data(), m, w.data(), n, k, b.data()));
    std::printf("SVDQuant layer: %.2e from its definition, %.4f from float math\n", to_definition, to_float);
    EXPECT_LT(to_definition, 1e-6);  // fp32 accumulation: measured 1.7e-7
    EXPECT_LT(to_float, 0.0045);     // measured 0.0040: the branch holds most of W

    Tensor wrong_up({n, rank + 1});
    expect_error(svdq_lowrank_decompose(ctx_, wt.get(), nullptr, static_cast<int32_t>(rank), wrong_up.get(), down.get()),
                 SVDQ_ERROR_SHAPE_MISMATCH, "out_up has shape [96, 17], expected [96, 16]");
    expect_error(svdq_lowrank_decompose(ctx_, wt.get(), nullptr, 0, up.get(), down.get()), SVDQ_ERROR_INVALID_ARGUMENT, "rank 0");
    expect_error(svdq_smooth_compute(ctx_, xt.get(), wt.get(), NAN, 0.5f, smooth.get()), SVDQ_ERROR_INVALID_ARGUMENT, "alpha");
    Tensor x_wrong({m, k + 64});
    expect_error(svdq_smooth_compute(ctx_, x_wrong.get(), wt.get(), 0.5f, 0.5f, smooth.get()), SVDQ_ERROR_SHAPE_MISMATCH, "columns");
}

TEST_F(CApi, QuantizeLinearsBuildsAGroupAndReports) {
    const int64_t m = 96, n = 64, k = 256;
    std::vector<float> x = gaussian(m * k, 11), w1 = gaussian(n * k, 12, 0.05f), w2 = gaussian(2 * n * k, 13, 0.05f),
                       b1 = gaussian(n, 14, 2.0f);
    for (int64_t i = 0; i < m * k; ++i) x[i] *= (i % k) % 50 == 1 ? 40.0f : 1.0f;
    Tensor xt({m, k}, x), wt1({n, k}, w1), wt2({2 * n, k}, w2), bt1({n}, b1), smooth({k}), y({m, 2 * n});
    svdq_quantize_options o;
    ASSERT_EQ(svdq_quantize_options_init(&o), SVDQ_OK);
    EXPECT_EQ(o.method, SVDQ_QUANT_SVDQUANT);
    EXPECT_EQ(o.rank, 32);
    EXPECT_EQ(o.grid_steps, 20);
    o.format = SVDQ_FORMAT_NVFP4;
    const svdq_tensor* weights[2] = {wt1.get(), wt2.get()};
    const svdq_tensor* biases[2] = {bt1.get(), nullptr};
    svdq_linear* layers[2] = {nullptr, nullptr};
    svdq_quantize_report report{};
    report.struct_size = sizeof report;
    Tensor up0({n, 32}), down0({32, k}), up1({2 * n, 32}), down1({32, k});
    svdq_tensor* ups[2] = {up0.get(), up1.get()};
    svdq_tensor* downs[2] = {down0.get(), down1.get()};
    ASSERT_EQ(svdq_quantize_linears(ctx_, &o, xt.get(), weights, biases, 2, layers, smooth.get(), ups, downs, &report),
              SVDQ_OK)
        << last_error();
    EXPECT_GT(report.candidates, 20);
    // The report's error, recomputed in float64: both layers on the 64 scoring
    // tokens (rows i * 96 / 64 of the calibration set) against X W^T + b.
    const int64_t tokens = 64;
    std::vector<float> score(tokens * k);
    for (int64_t i = 0; i < tokens; ++i) std::copy_n(x.data() + (i * m / tokens) * k, k, score.data() + i * k);
    Tensor score_t({tokens, k}, score), y0({tokens, n}), y1({tokens, 2 * n});
    ASSERT_EQ(svdq_linear_forward(ctx_, layers[0], score_t.get(), y0.get()), SVDQ_OK) << last_error();
    ASSERT_EQ(svdq_linear_forward(ctx_, layers[1], score_t.get(), y1.get()), SVDQ_OK) << last_error();
    const std::vector<double> ref0 = svdq::ref::matmul(score.data(), tokens, w1.data(), n, k, b1.data());
    const std::vector<double> ref1 = svdq::ref::matmul(score.data(), tokens, w2.data(), 2 * n, k, nullptr);
    double diff = 0.0, norm = 0.0;
    for (int64_t i = 0; i < tokens * n; ++i) {
        diff += (y0.f32()[i] - ref0[i]) * (y0.f32()[i] - ref0[i]);
        norm += ref0[i] * ref0[i];
    }
    for (int64_t i = 0; i < tokens * 2 * n; ++i) {
        diff += (y1.f32()[i] - ref1[i]) * (y1.f32()[i] - ref1[i]);
        norm += ref1[i] * ref1[i];
    }
    const double error = std::sqrt(diff / norm);
    std::printf("calibration error: reported %.6f, float64 %.6f\n", report.calibration_error, error);
    EXPECT_NEAR(report.calibration_error, error, 1e-4 * error);
    EXPECT_LT(error, 0.016);  // measured 0.0145
    EXPECT_GE(report.search_seconds, 0.0);
    for (int64_t j = 0; j < k; ++j) EXPECT_GT(smooth.f32()[j], 0.0f);
    svdq_linear_info info{};
    info.struct_size = sizeof info;
    ASSERT_EQ(svdq_linear_get_info(layers[1], &info), SVDQ_OK);
    EXPECT_EQ(info.format, SVDQ_FORMAT_NVFP4);
    EXPECT_EQ(info.rank, 32);
    EXPECT_EQ(info.out_features, 2 * n);
    EXPECT_EQ(info.has_bias, 0);
    EXPECT_EQ(svdq_linear_forward(ctx_, layers[1], xt.get(), y.get()), SVDQ_OK) << last_error();
    // The factors are what svdq_linear_create needs to rebuild the same layer.
    svdq_linear_desc d = desc(SVDQ_SCHEME_W4A4, wt2);
    d.format = SVDQ_FORMAT_NVFP4;
    d.smooth = smooth.get();
    d.lowrank_up = up1.get();
    d.lowrank_down = down1.get();
    svdq_linear* rebuilt = nullptr;
    ASSERT_EQ(svdq_linear_create(ctx_, &d, &rebuilt), SVDQ_OK) << last_error();
    Tensor y_rebuilt({m, 2 * n});
    ASSERT_EQ(svdq_linear_forward(ctx_, rebuilt, xt.get(), y_rebuilt.get()), SVDQ_OK) << last_error();
    for (int64_t i = 0; i < m * 2 * n; ++i) ASSERT_EQ(y_rebuilt.f32()[i], y.f32()[i]) << "at " << i;
    svdq_linear_destroy(rebuilt);
    for (svdq_linear* l : layers) svdq_linear_destroy(l);

    o.rank = 24;
    expect_error(svdq_quantize_linears(ctx_, &o, xt.get(), weights, biases, 2, layers, nullptr, nullptr, nullptr, nullptr),
                 SVDQ_ERROR_INVALID_ARGUMENT, "multiple of 16");
    EXPECT_EQ(layers[0], nullptr);
    o.rank = 32;
    expect_error(svdq_quantize_linears(ctx_, &o, nullptr, weights, biases, 2, layers, nullptr, nullptr, nullptr, nullptr),
                 SVDQ_ERROR_INVALID_ARGUMENT, "calibration");
    Tensor w_odd({n, k + 64});
    const svdq_tensor* mixed[2] = {wt1.get(), w_odd.get()};
    expect_error(svdq_quantize_linears(ctx_, &o, xt.get(), mixed, nullptr, 2, layers, nullptr, nullptr, nullptr, nullptr),
                 SVDQ_ERROR_SHAPE_MISMATCH, "weights[1]");
    std::vector<float> x48(m * 48, 1.0f), w48(n * 48, 0.5f);
    Tensor xt48({m, 48}, x48), wt48({n, 48}, w48);
    const svdq_tensor* narrow[1] = {wt48.get()};
    o.format = SVDQ_FORMAT_INT4;
    expect_error(svdq_quantize_linears(ctx_, &o, xt48.get(), narrow, nullptr, 1, layers, nullptr, nullptr, nullptr, nullptr),
                 SVDQ_ERROR_SHAPE_MISMATCH, "INT4 group size 64");
}

TEST_F(CApi, Nvfp4LayersTakeKInGroupsOf16) {
    std::vector<float> w(8 * 48, 0.25f);
    Tensor wt({8, 48}, w);
    svdq_linear_desc d = desc(SVDQ_SCHEME_W4A4, wt);
    svdq_linear* layer = nullptr;
    expect_error(svdq_linear_create(ctx_, &d, &layer), SVDQ_ERROR_SHAPE_MISMATCH, "INT4 group size 64");
    d.format = SVDQ_FORMAT_NVFP4;
    ASSERT_EQ(svdq_linear_create(ctx_, &d, &layer), SVDQ_OK) << last_error();
    svdq_linear_destroy(layer);
    d.format = 7;
    expect_error(svdq_linear_create(ctx_, &d, &layer), SVDQ_ERROR_INVALID_ARGUMENT, "svdq_number_format");
}
