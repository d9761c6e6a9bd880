// `svdq_layer_quantize_file` and `svdq_linear_load` as the CLI uses them:
// file in, file out, named errors and no partial output.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "quant_reference.h"
#include "temp_path.h"
#include "svdquant.h"

namespace {

namespace fs = std::filesystem;

std::string last_error() { return svdq_last_error_message(); }

struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> values;
};

std::string write_file(const std::string& name, const std::vector<Tensor>& tensors) {
    const std::string path = svdq::test::temp_path(name);
    svdq_safetensors_writer* w = nullptr;
    EXPECT_EQ(svdq_safetensors_writer_create(&w), SVDQ_OK);
    for (const Tensor& t : tensors)
        EXPECT_EQ(svdq_safetensors_writer_add_tensor(w, t.name.c_str(), SVDQ_DTYPE_F32, t.shape.data(),
                                                     static_cast<int32_t>(t.shape.size()), t.values.data(), t.values.size() * 4),
                  SVDQ_OK)
            << last_error();
    EXPECT_EQ(svdq_safetensors_writer_save(w, path.c_str()), SVDQ_OK) << last_error();
    svdq_safetensors_writer_destroy(w);
    return path;
}

std::vector<float> wave(size_t count, float frequency, float scale) {
    std::vector<float> v(count);
    for (size_t i = 0; i < count; ++i) v[i] = scale * std::sin(frequency * static_cast<float>(i) + 0.3f);
    return v;
}

std::vector<float> gaussian(size_t count, uint64_t seed, float stddev) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> dist(0.0f, stddev);
    std::vector<float> v(count);
    for (float& e : v) e = dist(rng);
    return v;
}

class CApiLayerFile : public testing::Test {
protected:
    void SetUp() override {
        ASSERT_EQ(svdq_context_create(nullptr, &ctx_), SVDQ_OK);
        svdq_quantize_options_init(&options_);
        options_.rank = 16;
        // Fixed exponents: a searched (0, 0) would mean lambda = 1, no smoothing to round-trip.
        options_.search = SVDQ_SEARCH_FIXED;
    }
    void TearDown() override { svdq_context_destroy(ctx_); }

    svdq_context* ctx_ = nullptr;
    svdq_quantize_options options_{};
    const int64_t n_ = 96, k_ = 192, m_ = 40;
    const std::string output_ = svdq::test::temp_path("out.safetensors");
};

}  // namespace

namespace {

// y = x W^T through `layer`, x [m, k].
std::vector<float> forward(svdq_context* ctx, const svdq_linear* layer, std::vector<float> x, int64_t m, int64_t k, int64_t n) {
    std::vector<float> y(static_cast<size_t>(m * n));
    const int64_t xshape[] = {m, k}, yshape[] = {m, n};
    svdq_tensor *xt = nullptr, *yt = nullptr;
    svdq_tensor_wrap(SVDQ_DTYPE_F32, xshape, 2, x.data(), x.size() * 4, &xt);
    svdq_tensor_wrap(SVDQ_DTYPE_F32, yshape, 2, y.data(), y.size() * 4, &yt);
    EXPECT_EQ(svdq_linear_forward(ctx, layer, xt, yt), SVDQ_OK) << last_error();
    svdq_tensor_destroy(xt);
    svdq_tensor_destroy(yt);
    return y;
}

double relative_error(const std::vector<float>& y, const std::vector<double>& ref) {
    double diff = 0, norm = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        diff += (y[i] - ref[i]) * (y[i] - ref[i]);
        norm += ref[i] * ref[i];
    }
    return std::sqrt(diff / norm);
}

}  // namespace

TEST_F(CApiLayerFile, EveryMethodAndFormatLoadsAndRunsLikeTheLayerInMemory) {
    // Gaussian weights and activations with outlier channels; a bias as large as X W^T (std ~2.3).
    // The bias is BF16 already, so the file's BF16 copy of it is exact and file vs memory measures the rest.
    const std::vector<float> w = gaussian(static_cast<size_t>(n_ * k_), 1, 0.05f);
    std::vector<float> bias = gaussian(static_cast<size_t>(n_), 2, 2.0f);
    for (float& b : bias) b = svdq::ref::bf16(b);
    std::vector<float> x = gaussian(static_cast<size_t>(m_ * k_), 3, 1.0f);
    for (size_t i = 0; i < x.size(); ++i) x[i] *= i % static_cast<size_t>(k_) % 37 == 5 ? 20.0f : 1.0f;
    const std::string input = write_file("svdq_layer_in.safetensors", {{"weight", {n_, k_}, w}, {"bias", {n_}, bias}, {"calib", {m_, k_}, x}});
    std::vector<double> ref(static_cast<size_t>(m_ * n_));
    for (int64_t i = 0; i < m_; ++i)
        for (int64_t o = 0; o < n_; ++o) {
            double acc = bias[static_cast<size_t>(o)];
            for (int64_t j = 0; j < k_; ++j) acc += static_cast<double>(x[static_cast<size_t>(i * k_ + j)]) * w[static_cast<size_t>(o * k_ + j)];
            ref[static_cast<size_t>(i * n_ + o)] = acc;
        }
    const int64_t wshape[] = {n_, k_}, bshape[] = {n_}, xshape[] = {m_, k_};
    std::vector<float> wv = w, bv = bias, xv = x;
    svdq_tensor *wt = nullptr, *bt = nullptr, *xt = nullptr;
    svdq_tensor_wrap(SVDQ_DTYPE_F32, wshape, 2, wv.data(), wv.size() * 4, &wt);
    svdq_tensor_wrap(SVDQ_DTYPE_F32, bshape, 1, bv.data(), bv.size() * 4, &bt);
    svdq_tensor_wrap(SVDQ_DTYPE_F32, xshape, 2, xv.data(), xv.size() * 4, &xt);

    // Error against X W^T + b in float64, measured (INT4, NVFP4): rtn 0.1779 0.0965, smoothquant 0.0806
    // 0.0458, lowrank 0.1412 0.0767, svdquant 0.0483 0.0272, w4a16 0.0763; bounds ~10% above.
    const double bound[5][2] = {{0.196, 0.106}, {0.089, 0.0505}, {0.156, 0.085}, {0.053, 0.030}, {0.084, 0.0}};
    for (svdq_quant_method method : {SVDQ_QUANT_RTN, SVDQ_QUANT_SMOOTHQUANT, SVDQ_QUANT_LOWRANK, SVDQ_QUANT_SVDQUANT, SVDQ_QUANT_W4A16})
        for (svdq_number_format format : {SVDQ_FORMAT_INT4, SVDQ_FORMAT_NVFP4}) {
            if (method == SVDQ_QUANT_W4A16 && format == SVDQ_FORMAT_NVFP4) continue;  // refused, see below
            SCOPED_TRACE("method " + std::to_string(method) + ", format " + std::to_string(format));
            options_.method = method;
            options_.format = format;
            svdq_quantize_report report{};
            report.struct_size = sizeof report;
            ASSERT_EQ(svdq_layer_quantize_file(ctx_, &options_, input.c_str(), output_.c_str(), &report), SVDQ_OK) << last_error();

            svdq_linear* layer = nullptr;
            ASSERT_EQ(svdq_linear_load(ctx_, output_.c_str(), &layer), SVDQ_OK) << last_error();
            svdq_linear_info info{};
            info.struct_size = sizeof info;
            svdq_linear_get_info(layer, &info);
            const bool branch = method == SVDQ_QUANT_LOWRANK || method == SVDQ_QUANT_SVDQUANT;
            const bool smooth = method == SVDQ_QUANT_SMOOTHQUANT || method == SVDQ_QUANT_SVDQUANT;
            EXPECT_EQ(info.scheme, method == SVDQ_QUANT_W4A16 ? SVDQ_SCHEME_W4A16 : SVDQ_SCHEME_W4A4);
            EXPECT_EQ(info.format, format);
            EXPECT_EQ(info.in_features, k_);
            EXPECT_EQ(info.out_features, n_);
            EXPECT_EQ(info.rank, branch ? 16 : 0);
            EXPECT_EQ(info.has_smooth, smooth ? 1 : 0);
            EXPECT_EQ(info.has_bias, 1);

            const svdq_tensor* weights[] = {wt};
            const svdq_tensor* biases[] = {bt};
            svdq_linear* memory = nullptr;
            ASSERT_EQ(svdq_quantize_linears(ctx_, &options_, xt, weights, biases, 1, &memory, nullptr, nullptr, nullptr, nullptr), SVDQ_OK)
                << last_error();
            const std::vector<float> y_file = forward(ctx_, layer, x, m_, k_, n_), y_memory = forward(ctx_, memory, x, m_, k_, n_);
            const double error = relative_error(y_file, ref), memory_error = relative_error(y_memory, ref);
            // The report is the in-memory layer's error on the (all 40) calibration tokens, recomputed here in float64.
            EXPECT_NEAR(report.calibration_error, memory_error, 1e-4 * memory_error);
            // The file stores the float parts in BF16, which is what the layer in
            // memory keeps already (INT4 scales, branch; lambda is BF16 from the
            // quantizer and this bias is BF16): the loaded layer is the same layer.
            EXPECT_EQ(y_file, y_memory);
            std::printf("method %d format %d: error %.4f\n", method, format, error);
            EXPECT_LT(error, bound[method][format == SVDQ_FORMAT_NVFP4]) << "the loaded layer computes the layer";
            svdq_linear_destroy(memory);
            svdq_linear_destroy(layer);
        }
    svdq_tensor_destroy(wt);
    svdq_tensor_destroy(bt);
    svdq_tensor_destroy(xt);
    fs::remove(input);
    fs::remove(output_);
}

TEST_F(CApiLayerFile, W4A16InNvfp4IsRefusedBeforeQuantizing) {
    fs::remove(output_);
    const std::string input = write_file("svdq_layer_in16.safetensors", {{"weight", {n_, k_}, wave(static_cast<size_t>(n_ * k_), 0.37f, 0.05f)}});
    options_.method = SVDQ_QUANT_W4A16;
    options_.format = SVDQ_FORMAT_NVFP4;
    EXPECT_EQ(svdq_layer_quantize_file(ctx_, &options_, input.c_str(), output_.c_str(), nullptr), SVDQ_ERROR_UNSUPPORTED);
    EXPECT_NE(last_error().find("INT4 weights only"), std::string::npos) << last_error();
    EXPECT_FALSE(fs::exists(output_));
    fs::remove(input);
}

TEST_F(CApiLayerFile, BadInputsNameTheTensorAndLeaveNoFile) {
    fs::remove(output_);
    auto expect = [&](const std::string& input, svdq_status status, const std::string& needle) {
        EXPECT_EQ(svdq_layer_quantize_file(ctx_, &options_, input.c_str(), output_.c_str(), nullptr), status) << last_error();
        EXPECT_NE(last_error().find(needle), std::string::npos) << last_error();
        EXPECT_FALSE(fs::exists(output_)) << "a failure must not leave " << output_;
    };
    const std::vector<float> w = wave(static_cast<size_t>(n_ * k_), 0.37f, 0.05f);
    expect(write_file("svdq_bad1.safetensors", {{"bias", {n_}, std::vector<float>(static_cast<size_t>(n_))}}), SVDQ_ERROR_FORMAT, "'weight'");
    expect(write_file("svdq_bad2.safetensors", {{"weight", {n_, 100}, std::vector<float>(static_cast<size_t>(n_ * 100))}}),
           SVDQ_ERROR_SHAPE_MISMATCH, "not a multiple of the group size 64");
    expect(write_file("svdq_bad3.safetensors", {{"weight", {n_, k_}, w}}), SVDQ_ERROR_FORMAT, "'calib'");
    expect(write_file("svdq_bad4.safetensors", {{"weight", {n_, k_}, w}, {"bias", {n_ + 1}, std::vector<float>(static_cast<size_t>(n_ + 1))}}),
           SVDQ_ERROR_SHAPE_MISMATCH, "'bias'");
    expect(write_file("svdq_bad5.safetensors", {{"weight", {n_, k_}, w}, {"calib", {m_, k_ + 64}, std::vector<float>(static_cast<size_t>(m_ * (k_ + 64)))}}),
           SVDQ_ERROR_SHAPE_MISMATCH, "'calib'");
    expect("/nonexistent/layer.safetensors", SVDQ_ERROR_IO, "/nonexistent/layer.safetensors");
    svdq_linear* layer = nullptr;
    EXPECT_EQ(svdq_linear_load(ctx_, "/nonexistent/q.safetensors", &layer), SVDQ_ERROR_IO);
    EXPECT_EQ(layer, nullptr);
}
