// A quantized layer through its file: written, read back, and run.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/context.h"
#include "core/error.h"
#include "models/quantized_layer_file.h"
#include "quant/lowrank.h"
#include "quant/smoothing.h"
#include "test_util.h"

namespace svdq {

TEST(QuantizedLayerFile, RoundTripRunsLikeTheLayerInMemory) {
    Context ctx(test::context_options());
    const int64_t m = 24, n = 200, k = 320, rank = 16;  // N, K not multiples of 128: the file pads them
    const auto x = test::with_outlier_channels(test::gaussian(static_cast<size_t>(m * k), 41), k, 37, 20.0f);
    LinearWeights w;
    w.kind = SVDQ_LINEAR_W4A4;
    w.activation = SVDQ_ACTIVATION_GELU_TANH;
    w.n = n;
    w.k = k;
    w.weight = test::gaussian(static_cast<size_t>(n * k), 42, 0.05f);
    w.bias = test::gaussian(static_cast<size_t>(n), 43, 0.1f);
    w.smooth = compute_smoothing(x.data(), m, w.weight.data(), n, k, 0.5f, 0.5f, ctx.pool());
    std::vector<float> smoothed = w.weight;
    for (int64_t i = 0; i < n * k; ++i) smoothed[static_cast<size_t>(i)] *= w.smooth[static_cast<size_t>(i % k)];
    LowRank lr = lowrank_decompose(smoothed.data(), n, k, rank);
    w.rank = rank;
    w.up = lr.up;
    w.down = lr.down;

    const std::string path = (std::filesystem::temp_directory_path() / "svdq_layer_roundtrip.safetensors").string();
    write_quantized_layer(path, w, "svdquant", ctx.pool());
    const LinearWeights loaded = read_quantized_layer(path);
    std::filesystem::remove(path);

    ASSERT_TRUE(loaded.quantized_residual.has_value());
    const Int4Matrix expected = quantize_int4(smoothed_residual(w, ctx.pool()).data(), n, k, ctx.pool());
    EXPECT_EQ(loaded.quantized_residual->packed, expected.packed) << "the 4-bit values are stored exactly";
    EXPECT_EQ(loaded.n, n);
    EXPECT_EQ(loaded.k, k);
    EXPECT_EQ(loaded.rank, rank);
    EXPECT_EQ(loaded.activation, SVDQ_ACTIVATION_GELU_TANH);

    std::vector<float> y_memory(static_cast<size_t>(m * n)), y_file(y_memory.size());
    Linear(ctx, w).forward(ctx, x.data(), m, y_memory.data());
    Linear(ctx, loaded).forward(ctx, x.data(), m, y_file.data());
    // Only the BF16 storage of scales, bias, smoothing and branch (8-bit
    // mantissas, as Nunchaku stores them) separates them: measured 1.0e-2,
    // against ~0.05 for the 4-bit quantization itself.
    EXPECT_LT(test::frobenius_rel_error(y_file, y_memory), 2e-2);
}

TEST(QuantizedLayerFile, OtherFilesAreRejectedByName) {
    const std::string inputs = std::string(SVDQ_TEST_DATA_DIR) + "/flux-tiny/inputs.safetensors";
    try {
        read_quantized_layer(inputs);
        FAIL() << "read a file with no layer";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SVDQ_ERROR_FORMAT);
        EXPECT_NE(std::string(e.what()).find("svdquant_layer"), std::string::npos) << e.what();
    }
}

}  // namespace svdq
