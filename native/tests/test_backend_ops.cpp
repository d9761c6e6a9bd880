// Every op of backend.h on the CUDA backend against the CPU backend at the
// scalar level (the reference kernels), on small random inputs with ragged
// sizes (not multiples of any tile) and strided views (a view starting one
// column into rows of a wider buffer, whose padding must stay untouched).
// Without a CUDA backend in this build, or without a usable GPU, every case
// skips saying why.
//
// Bounds are max |tested - reference| / max |reference| over the output.
// fp32 ops: 1e-5. Both sides compute in fp32 (GroupNorm's statistics in
// fp64); they differ only in summation order and in 1-2 ulp of expf, erff
// and tanhf (~1e-6 of the output), while a dropped term, a wrong index or a
// wrong stride moves the output by 1e-2 or more. Memory ops and im2col
// patches copy values: exact.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "backend/context.h"
#include "core/error.h"
#include "cpu_levels.h"
#include "expect_error.h"
#include "test_util.h"

using namespace svdq;

namespace {

constexpr double kFp32Bound = 1e-5;

// The backend under test.
svdq_context_options tested_options() {
    svdq_context_options o = test::context_options();
    o.backend = SVDQ_BACKEND_CUDA;
    return o;
}

enum Side { kTested = 0, kReference = 1 };
constexpr Side kSides[] = {kTested, kReference};

// A [rows, cols] matrix in one backend's memory. Strided: rows of cols + 3
// floats, the view starting at column 1 (so its data is not even 8-byte
// aligned); the padding holds a sentinel that no op may change.
class BackendMatrix {
public:
    static constexpr float kSentinel = 1234.5f;

    BackendMatrix(Backend& backend, int64_t rows, int64_t cols, bool strided)
        : backend_(backend), stride_(strided ? cols + 3 : cols) {
        bytes_ = static_cast<size_t>(std::max<int64_t>(rows * stride_, 1)) * sizeof(float);
        data_ = static_cast<float*>(backend_.allocate(bytes_));
        whole_ = TensorView{data_, rows, stride_, stride_, Memory::backend};
        view_ = strided ? whole_.column_range(1, cols) : whole_;
        if (rows > 0) backend_.upload(std::vector<float>(static_cast<size_t>(rows * stride_), kSentinel).data(), whole_);
    }
    ~BackendMatrix() { backend_.release(data_, bytes_); }
    BackendMatrix(const BackendMatrix&) = delete;
    BackendMatrix& operator=(const BackendMatrix&) = delete;

    const TensorView& view() const { return view_; }
    void set(const std::vector<float>& values) { backend_.upload(values.data(), view_); }
    std::vector<float> get() const { return download(view_); }

    // Every float outside the view is still the sentinel.
    void expect_padding_kept(const char* what) const {
        const std::vector<float> all = download(whole_);
        const int64_t first = view_.data - data_;
        for (int64_t r = 0; r < whole_.rows; ++r)
            for (int64_t c = 0; c < stride_; ++c) {
                if (c >= first && c < first + view_.cols) continue;
                ASSERT_EQ(all[static_cast<size_t>(r * stride_ + c)], kSentinel) << what << ": padding at row " << r << ", column " << c;
            }
    }

private:
    std::vector<float> download(const TensorView& v) const {
        std::vector<float> host(static_cast<size_t>(v.rows * v.cols));
        if (!host.empty()) backend_.download(v, host.data());
        return host;
    }

    Backend& backend_;
    int64_t stride_;
    size_t bytes_ = 0;
    float* data_ = nullptr;
    TensorView whole_, view_;
};

// One operand: the same values in the backend under test and in the reference.
class Twin {
public:
    Twin(Context* const (&contexts)[2], int64_t rows, int64_t cols, const std::vector<float>& values, bool strided)
        : tested_(contexts[kTested]->backend(), rows, cols, strided),
          reference_(contexts[kReference]->backend(), rows, cols, strided) {
        tested_.set(values);
        reference_.set(values);
    }
    const TensorView& operator[](Side s) const { return s == kTested ? tested_.view() : reference_.view(); }
    BackendMatrix& tested() { return tested_; }
    BackendMatrix& reference() { return reference_; }

private:
    BackendMatrix tested_, reference_;
};

std::vector<float> offset(std::vector<float> v, float by) {
    for (float& x : v) x += by;
    return v;
}

class BackendOps : public ::testing::Test {
protected:
    void SetUp() override {
        SVDQ_REQUIRE_LEVEL(SVDQ_CPU_SCALAR);
        try {
            tested_ = std::make_unique<Context>(tested_options());
        } catch (const Error& e) {
            if (e.status() == SVDQ_ERROR_UNSUPPORTED) GTEST_SKIP() << "CUDA backend unavailable: " << e.what();
            throw;
        }
        reference_ = std::make_unique<Context>(test::level_options(SVDQ_CPU_SCALAR));
        contexts_[kTested] = tested_.get();
        contexts_[kReference] = reference_.get();
    }

    Backend& backend(Side s) { return contexts_[s]->backend(); }
    Backend& tested() { return backend(kTested); }

    std::unique_ptr<Twin> twin(int64_t rows, int64_t cols, const std::vector<float>& values, bool strided = false) {
        return std::make_unique<Twin>(contexts_, rows, cols, values, strided);
    }
    std::unique_ptr<Twin> random(int64_t rows, int64_t cols, uint64_t seed, bool strided = false, float stddev = 1.0f) {
        return twin(rows, cols, test::gaussian(static_cast<size_t>(rows * cols), seed, stddev), strided);
    }
    std::unique_ptr<Twin> zeros(int64_t rows, int64_t cols, bool strided = false) {
        return twin(rows, cols, std::vector<float>(static_cast<size_t>(rows * cols)), strided);
    }

    // The tested output within `bound` of the reference's; a strided one's padding untouched.
    double expect_close(Twin& out, double bound, const std::string& what) {
        const std::vector<float> got = out.tested().get(), want = out.reference().get();
        for (float v : got) EXPECT_TRUE(std::isfinite(v)) << what;
        const double error = test::max_rel_error(got, want);
        EXPECT_LE(error, bound) << what;
        out.tested().expect_padding_kept(what.c_str());
        return error;
    }

    std::unique_ptr<Context> tested_, reference_;
    Context* contexts_[2] = {nullptr, nullptr};
};

// ---- Memory ----

TEST_F(BackendOps, UploadDownloadAndCopyKeepStridedViewsExact) {
    const int64_t rows = 13, cols = 37;
    const std::vector<float> values = test::gaussian(static_cast<size_t>(rows * cols), 1);
    for (bool strided : {false, true}) {
        BackendMatrix a(tested(), rows, cols, strided);
        a.set(values);
        EXPECT_EQ(a.get(), values);
        a.expect_padding_kept("upload");
        BackendMatrix b(tested(), rows, cols, !strided);
        tested().copy(a.view(), b.view());
        EXPECT_EQ(b.get(), values);
        b.expect_padding_kept("copy");
        // Rows 3..9 of a into rows 1..7 of c: row ranges keep the stride.
        BackendMatrix c(tested(), rows, cols, true);
        tested().copy(a.view().row_range(3, 7), c.view().row_range(1, 7));
        const std::vector<float> got = c.get();
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < cols; ++j) {
                const float want = r >= 1 && r < 8 ? values[static_cast<size_t>((r + 2) * cols + j)] : BackendMatrix::kSentinel;
                ASSERT_EQ(got[static_cast<size_t>(r * cols + j)], want) << "row " << r << ", column " << j;
            }
    }
}

// ---- Attention ----

// Attention stages q, k and v in BF16 and computes in fp32. Against the CPU
// on the BF16-rounded inputs only the summation order differs: 1e-5. Against
// the CPU on the fp32 inputs it carries BF16's rounding; measured on the CPU
// (fp32 attention on rounded vs original inputs, these sizes and seeds):
// 3.0e-3 to 6.1e-3 over the head sizes; bound 7e-3. The 1e-5 check is the
// sharp one, with room: the CPU's AVX2 and scalar attention (other
// summation orders) differ by 9.4e-7 at most on these inputs.
TEST_F(BackendOps, AttentionMatchesTheCpuOnBf16RoundedInputs) {
    const int64_t tokens = 77;  // 2 key tiles + 13, query tiles of 32 or 16 + a ragged one
    for (int64_t head_dim : {40, 64, 72, 128, 256, 512}) {  // 128: FLUX; 512: the VAE's one head
        SCOPED_TRACE("head_dim " + std::to_string(head_dim));
        const int64_t heads = head_dim == 512 ? 1 : head_dim == 256 ? 2 : 3, width = heads * head_dim;
        const auto values = [&](uint64_t seed) { return test::gaussian(static_cast<size_t>(tokens * width), seed, 1.5f); };
        const std::vector<float> q = values(10 + head_dim), k = values(20 + head_dim), v = offset(values(30 + head_dim), 0.5f);
        // Tested: the fp32 values. Reference: their BF16 roundings, and the fp32 values.
        BackendMatrix tq(tested(), tokens, width, false), tk(tested(), tokens, width, false), tv(tested(), tokens, width, false),
            tout(tested(), tokens, width, false);
        tq.set(q);
        tk.set(k);
        tv.set(v);
        tested().attention(tq.view(), tk.view(), tv.view(), head_dim, AttentionPrecision::bf16, tout.view());
        const std::vector<float> got = tout.get();
        const auto reference = [&](bool rounded) {
            const auto in = [&](const std::vector<float>& x) { return rounded ? test::bf16_values(x) : x; };
            Backend& cpu = backend(kReference);
            BackendMatrix rq(cpu, tokens, width, false), rk(cpu, tokens, width, false), rv(cpu, tokens, width, false),
                rout(cpu, tokens, width, false);
            rq.set(in(q));
            rk.set(in(k));
            rv.set(in(v));
            cpu.attention(rq.view(), rk.view(), rv.view(), head_dim, AttentionPrecision::fp32, rout.view());
            return rout.get();
        };
        for (float x : got) ASSERT_TRUE(std::isfinite(x));
        EXPECT_LE(test::max_rel_error(got, reference(true)), kFp32Bound) << "against BF16-rounded inputs";
        EXPECT_LE(test::max_rel_error(got, reference(false)), 7e-3) << "against fp32 inputs";
    }
}

// The CUDA backend's limits: head_dim a multiple of 8, up to 512 (BF16
// attention) or 256 (fp32 biased attention).
TEST_F(BackendOps, AttentionRefusesHeadDimsItCannotRun) {
    const int64_t tokens = 5, width = 1560;  // divisible by 12 and 520, not by 7
    BackendMatrix q(tested(), tokens, width, false), out(tested(), tokens, width, false);
    const auto run = [&](int64_t head_dim) {
        tested().attention(q.view(), q.view(), q.view(), head_dim, AttentionPrecision::bf16, out.view());
    };
    test::expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "must divide the width", [&] { run(7); });
    test::expect_error(SVDQ_ERROR_UNSUPPORTED, "head_dim 12 is not supported", [&] { run(12); });
    test::expect_error(SVDQ_ERROR_UNSUPPORTED, "head_dim 520 is not supported", [&] { run(520); });
    BackendMatrix x(tested(), tokens, 2 * 264, false), y(tested(), tokens, 2 * 264, false);
    test::expect_error(SVDQ_ERROR_UNSUPPORTED, "head_dim 264 is not supported", [&] {
        tested().biased_attention(x.view(), x.view(), x.view(), 264, AttentionBias{}, y.view());
    });
}

// The text encoders' attention in fp32: scale, a per-head bias (a strided
// view of a wider matrix), a key bias with float's lowest as transformers'
// padding mask and -inf for the first 34 keys (more than a whole 32-key tile
// masked: the online softmax must not make NaN of it), causal or not.
TEST_F(BackendOps, BiasedAttentionMatchesTheCpu) {
    struct Case {
        int64_t head_dim, q_rows, k_rows;
        float scale;
        bool bias, key_bias, causal;
    };
    const Case cases[] = {
        {64, 37, 45, 1.0f, true, true, false},   // T5: scale 1, relative position bias, padding mask
        {40, 37, 45, 0.3f, true, false, false},  // a head narrower than a warp's column pairs
        {64, 45, 45, 0.125f, false, false, true}, // CLIP: causal
        {128, 45, 45, 0.0884f, true, true, true}, // the wider kernels, everything at once
        {256, 20, 45, 0.0625f, true, true, false},
    };
    const float lowest = std::numeric_limits<float>::lowest(), inf = std::numeric_limits<float>::infinity();
    for (const Case& c : cases) {
        SCOPED_TRACE("head_dim " + std::to_string(c.head_dim) + (c.causal ? ", causal" : "") + (c.bias ? ", bias" : "") +
                     (c.key_bias ? ", key_bias" : ""));
        const int64_t heads = 2, width = heads * c.head_dim;
        const auto q = random(c.q_rows, width, 41, false, 0.8f), k = random(c.k_rows, width, 42, false, 0.8f),
                   v = random(c.k_rows, width, 43), out = zeros(c.q_rows, width);
        const auto bias = random(heads * c.q_rows, c.k_rows, 44, true, 2.0f);
        std::vector<float> mask(static_cast<size_t>(c.k_rows), 0.0f);
        for (int64_t j = c.k_rows - 5; j < c.k_rows; ++j) mask[static_cast<size_t>(j)] = lowest;
        if (!c.causal)  // a causal first query sees key 0 only
            for (int64_t j = 0; j < 34; ++j) mask[static_cast<size_t>(j)] = -inf;
        const auto key_bias = twin(1, c.k_rows, mask, false);
        for (Side s : kSides) {
            AttentionBias b;
            b.scale = c.scale;
            if (c.bias) b.bias = (*bias)[s];
            if (c.key_bias) b.key_bias = (*key_bias)[s];
            b.causal = c.causal;
            backend(s).biased_attention((*q)[s], (*k)[s], (*v)[s], c.head_dim, b, (*out)[s]);
        }
        expect_close(*out, kFp32Bound, "biased_attention");
    }
}

// ---- Norms ----

TEST_F(BackendOps, LayerNormMatchesTheCpu) {
    const int64_t rows = 37, d = 300;
    // An offset of 3 against a spread of 2: the centring matters.
    const auto x = twin(rows, d, offset(test::gaussian(static_cast<size_t>(rows * d), 1, 2.0f), 3.0f), true);
    const auto weight = random(1, d, 2), bias = random(1, d, 3), out = zeros(rows, d, true);
    for (Side s : kSides) backend(s).layer_norm((*x)[s], (*weight)[s], (*bias)[s], 1e-5f, (*out)[s]);
    expect_close(*out, kFp32Bound, "layer_norm");
    for (Side s : kSides) backend(s).layer_norm((*x)[s], (*weight)[s], (*bias)[s], 1e-5f, (*x)[s]);  // in place
    expect_close(*x, kFp32Bound, "layer_norm in place");
}

TEST_F(BackendOps, LayerNormModulateMatchesTheCpu) {
    const int64_t rows = 9, d = 1000;
    const auto x = twin(rows, d, offset(test::gaussian(static_cast<size_t>(rows * d), 4, 2.0f), -1.0f), true);
    // scale and shift: chunks of a modulation row [1, 3d], as FLUX's modulation_chunk.
    const auto modulation = random(1, 3 * d, 5, false, 0.5f);
    const auto out = zeros(rows, d, true);
    for (Side s : kSides) {
        const TensorView m = (*modulation)[s];
        backend(s).layer_norm_modulate((*x)[s], m.column_range(d, d), m.column_range(2 * d, d), 1e-6f, (*out)[s]);
    }
    expect_close(*out, kFp32Bound, "layer_norm_modulate");
}

TEST_F(BackendOps, RmsNormHeadsMatchesTheCpu) {
    struct Case {
        int64_t rows, heads, head_dim;
    };
    for (const Case& c : {Case{19, 3, 128}, Case{4, 1, 4096}, Case{6, 5, 40}}) {  // FLUX q/k, T5's LayerNorm, ragged
        SCOPED_TRACE("head_dim " + std::to_string(c.head_dim));
        const auto x = random(c.rows, c.heads * c.head_dim, 6, true, 3.0f);
        const auto weight = random(1, c.head_dim, 7);
        for (Side s : kSides) backend(s).rms_norm_heads((*x)[s], (*weight)[s], 1e-6f);
        expect_close(*x, kFp32Bound, "rms_norm_heads");
    }
}

TEST_F(BackendOps, GroupNormMatchesTheCpu) {
    const int64_t pixels = 300, channels = 48, groups = 8;
    // Channel offsets of 2..7 against a spread of 0.5: E[x^2] - mean^2 cancels.
    std::vector<float> values = test::gaussian(static_cast<size_t>(pixels * channels), 8, 0.5f);
    for (size_t i = 0; i < values.size(); ++i) values[i] += 2.0f + static_cast<float>(i % channels % 6);
    const auto weight = random(1, channels, 9), bias = random(1, channels, 10);
    for (bool silu : {false, true}) {
        SCOPED_TRACE(silu ? "with SiLU" : "without SiLU");
        const auto x = twin(pixels, channels, values, true), out = zeros(pixels, channels, true);
        for (Side s : kSides) backend(s).group_norm((*x)[s], groups, (*weight)[s], (*bias)[s], 1e-6f, silu, (*out)[s]);
        expect_close(*out, kFp32Bound, "group_norm");
        for (Side s : kSides) backend(s).group_norm((*x)[s], groups, (*weight)[s], (*bias)[s], 1e-6f, silu, (*x)[s]);
        expect_close(*x, kFp32Bound, "group_norm in place");
    }
}

// ---- RoPE and element-wise ops ----

TEST_F(BackendOps, RopeMatchesTheCpu) {
    const int64_t rows = 11, heads = 3, dim = 16;
    const auto x = random(rows, heads * dim, 11, true);
    std::vector<float> angles = test::gaussian(static_cast<size_t>(rows * dim), 12, 2.0f), cos(angles.size()), sin(angles.size());
    for (size_t i = 0; i < angles.size(); ++i) {
        cos[i] = std::cos(angles[i]);
        sin[i] = std::sin(angles[i]);
    }
    const auto c = twin(rows, dim, cos, true), sn = twin(rows, dim, sin, true);
    for (Side s : kSides) backend(s).rope((*x)[s], (*c)[s], (*sn)[s]);
    expect_close(*x, kFp32Bound, "rope");
}

TEST_F(BackendOps, ActivationsMatchTheCpu) {
    const int64_t rows = 21, cols = 300;
    for (Activation a : {Activation::gelu_erf, Activation::gelu_tanh, Activation::quick_gelu}) {
        SCOPED_TRACE(static_cast<int>(a));
        const auto x = random(rows, cols, 13, true, 3.0f);
        for (Side s : kSides) backend(s).activate((*x)[s], a);
        expect_close(*x, kFp32Bound, "activate");
    }
    const auto x = random(rows, cols, 14, true, 3.0f);
    for (Side s : kSides) backend(s).silu((*x)[s]);
    expect_close(*x, kFp32Bound, "silu");
}

TEST_F(BackendOps, ElementWiseUpdatesMatchTheCpu) {
    const int64_t rows = 17, cols = 290;
    const auto other = random(rows, cols, 15, true), gates = random(2, cols, 16);
    const auto product = random(rows, cols, 17, true), sum = random(rows, cols, 18, true), gated = random(rows, cols, 19, true);
    for (Side s : kSides) {
        backend(s).multiply((*product)[s], (*other)[s]);
        backend(s).add((*sum)[s], (*other)[s]);
        backend(s).gated_add((*gated)[s], (*other)[s], (*gates)[s].row_range(1, 1));  // gate [1, cols]: row 1 of two
    }
    expect_close(*product, kFp32Bound, "multiply");
    expect_close(*sum, kFp32Bound, "add");
    expect_close(*gated, kFp32Bound, "gated_add");
}

// ---- 3x3 convolution patches ----

TEST_F(BackendOps, Conv3x3PatchesMatchTheCpuExactly) {
    const int64_t height = 7, width = 5, channels = 6;
    struct Case {
        const char* name;
        int64_t upsample, stride, pad, out_height, out_width, first_out_row, out_rows;
    };
    const Case cases[] = {
        {"same padding", 1, 1, 1, 7, 5, 0, 7},
        {"upsampled 2x, rows 3..8", 2, 1, 1, 14, 10, 3, 6},
        {"stride 2, padded right and bottom only, rows 1..2", 1, 2, 0, 3, 2, 1, 2},
    };
    const auto image = random(height * width, channels, 20, true);
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        ConvGeometry g;
        g.height = height;
        g.width = width;
        g.upsample = c.upsample;
        g.stride = c.stride;
        g.pad_top = g.pad_left = c.pad;
        g.out_height = c.out_height;
        g.out_width = c.out_width;
        const auto out = random(c.out_rows * c.out_width, 9 * channels, 21, true);  // stale values: zeros must be written
        for (Side s : kSides) backend(s).conv3x3_patches((*image)[s], g, c.first_out_row, (*out)[s]);
        EXPECT_EQ(out->tested().get(), out->reference().get());
        out->tested().expect_padding_kept("conv3x3_patches");
    }
}

}  // namespace
