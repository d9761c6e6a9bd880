#include "backend/cuda/cuda_linear.cuh"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/cuda_kernels.cuh"

namespace svdq::cuda {

namespace {

// One device array, freed with its owner.
class DeviceArray {
public:
    DeviceArray() = default;
    template <class T>
    DeviceArray(const T* host, size_t count) {
        if (host == nullptr || count == 0) return;
        bytes_ = count * sizeof(T);
        check(cudaMalloc(&data_, bytes_), "allocating layer weights");
        check(cudaMemcpy(data_, host, bytes_, cudaMemcpyHostToDevice), "uploading layer weights");
    }
    DeviceArray(DeviceArray&& o) noexcept : data_(std::exchange(o.data_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
    DeviceArray& operator=(DeviceArray&& o) noexcept {
        std::swap(data_, o.data_);
        std::swap(bytes_, o.bytes_);
        return *this;
    }
    DeviceArray(const DeviceArray&) = delete;
    DeviceArray& operator=(const DeviceArray&) = delete;
    ~DeviceArray() { cudaFree(data_); }

    template <class T>
    const T* as() const { return static_cast<const T*>(data_); }
    size_t bytes() const { return bytes_; }

private:
    void* data_ = nullptr;
    size_t bytes_ = 0;
};

std::vector<uint16_t> bf16_bits(const float* values, size_t count) {
    std::vector<uint16_t> bits(count);
    for (size_t i = 0; i < count; ++i) {  // the values are BF16 already: keep the top half exactly
        uint32_t word;
        std::memcpy(&word, values + i, sizeof word);
        bits[i] = static_cast<uint16_t>(word >> 16);
    }
    return bits;
}

// Low-rank terms run as two fp32 GEMMs: the LoRA updates, and a branch the layer runs unfused.
struct LowRankTerms {
    int64_t rank = 0;
    DeviceArray down;  // fp32 [rank, k]
    DeviceArray up;    // fp32 [n, rank], scales applied
};

}  // namespace

struct CudaLinear {
    int32_t scheme = SVDQ_SCHEME_FLOAT;
    bool gelu = false;
    int64_t n = 0, k = 0;
    DeviceArray bias;
    // FLOAT: weights fp32, or BF16 bits when every value is one.
    bool bf16_weights = false;
    DeviceArray weight;
    // W4A16 / W4A4
    DeviceArray codes, scales, zeros;
    DeviceArray inv_smooth;
    float input_shift = 0.0f;
    bool unsigned_input = false;
    int64_t fused_rank = 0;   // W4A4 fused branch: down and up as BF16 bits
    DeviceArray fused_down, fused_up;
    LowRankTerms unfused_branch;
    LowRankTerms updates;
};

namespace {

void require_desc(bool condition, const char* message) { require(condition, SVDQ_ERROR_INVALID_ARGUMENT, message); }

LowRankTerms low_rank_terms(const std::vector<const svdq_plugin_low_rank_update*>& parts, int64_t n, int64_t k) {
    LowRankTerms terms;
    for (const auto* u : parts) terms.rank += u->rank;
    if (terms.rank == 0) return terms;
    std::vector<float> down(static_cast<size_t>(terms.rank * k)), up(static_cast<size_t>(n * terms.rank));
    int64_t at = 0;
    for (const auto* u : parts) {
        std::copy(u->down, u->down + u->rank * k, down.begin() + at * k);
        for (int64_t i = 0; i < n; ++i)
            for (int64_t q = 0; q < u->rank; ++q) up[static_cast<size_t>(i * terms.rank + at + q)] = u->scale * u->up[i * u->rank + q];
        at += u->rank;
    }
    terms.down = DeviceArray(down.data(), down.size());
    terms.up = DeviceArray(up.data(), up.size());
    return terms;
}

void check_cublas(cublasStatus_t status, const char* what) {
    if (status == CUBLAS_STATUS_SUCCESS) return;
    fail(status == CUBLAS_STATUS_ALLOC_FAILED ? SVDQ_ERROR_OUT_OF_MEMORY : SVDQ_ERROR_INTERNAL,
         std::string(what) + ": cuBLAS status " + std::to_string(static_cast<int>(status)));
}

// y [m, n] = beta y + x [m, k] w [n, k]^T, row-major, exact fp32 (cuBLAS's column-major y^T = w x^T).
void gemm_f32(CudaBackend& b, const float* x, int64_t m, int64_t k, const float* w, int64_t n, float beta, float* y) {
    const float alpha = 1.0f;
    check_cublas(cublasSgemm(b.cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, w,
                             static_cast<int>(k), x, static_cast<int>(k), &beta, y, static_cast<int>(n)),
                 "fp32 GEMM");
}

// The same with BF16 weights: x rounded to BF16, fp32 accumulation.
void gemm_bf16(CudaBackend& b, const float* x, int64_t m, int64_t k, const uint16_t* w, int64_t n, float* y) {
    uint16_t* x16 = b.x_bf16.as<uint16_t>(static_cast<size_t>(m * k));
    to_bf16(x, m * k, x16, b.stream);
    const float alpha = 1.0f, beta = 0.0f;
    check_cublas(cublasGemmEx(b.cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, w,
                              CUDA_R_16BF, static_cast<int>(k), x16, CUDA_R_16BF, static_cast<int>(k), &beta, y, CUDA_R_32F,
                              static_cast<int>(n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 "BF16 GEMM");
}

// y += (x down^T) up^T.
void add_low_rank(CudaBackend& b, const LowRankTerms& t, const float* x, int64_t m, int64_t n, int64_t k, float* y) {
    if (t.rank == 0) return;
    float* act = b.lowrank_act.as<float>(static_cast<size_t>(m * t.rank));
    gemm_f32(b, x, m, k, t.down.as<float>(), t.rank, 0.0f, act);
    gemm_f32(b, act, m, t.rank, t.up.as<float>(), n, 1.0f, y);
}

// A W4A4 layer's two kernels. codes given: the input came quantized (run_mlp), only its branch is computed.
struct QuantizedInput {
    const uint8_t* codes = nullptr;
    const float* scales = nullptr;
};
// Where a W4A4 GEMM's epilogue quantizes its output for the next layer (codes null: it does not).
struct NextQuantization {
    uint8_t* codes = nullptr;
    float* scales = nullptr;
    const CudaLinear* layer = nullptr;
};

void run_w4a4(CudaBackend& b, const CudaLinear& l, const float* x, int64_t m, bool gelu, float* y, QuantizedInput input = {},
              NextQuantization next = {}) {
    float* lowrank = l.fused_rank > 0 ? b.lowrank_act.as<float>(static_cast<size_t>(m * l.fused_rank)) : nullptr;
    const bool quantize = input.codes == nullptr;
    uint8_t* codes = quantize ? b.act_codes.as<uint8_t>(static_cast<size_t>(m * l.k / 2)) : nullptr;
    float* scales = quantize ? b.act_scales.as<float>(static_cast<size_t>(m * (l.k / 64))) : nullptr;
    if (quantize || lowrank != nullptr) {
        QuantizeActArgs q{};
        q.x = x;
        q.m = m;
        q.k = l.k;
        q.inv_smooth = l.inv_smooth.as<float>();
        q.shift = l.input_shift;
        q.is_unsigned = l.unsigned_input;
        q.down = lowrank != nullptr ? l.fused_down.as<uint16_t>() : nullptr;
        q.rank = l.fused_rank;
        q.codes = codes;
        q.scales = scales;
        q.lowrank = lowrank;
        quantize_activations(q, b.stream);
    }
    GemmW4A4Args g{};
    g.codes = quantize ? codes : input.codes;
    g.act_scales = quantize ? scales : input.scales;
    g.act_unsigned = l.unsigned_input;
    g.m = m;
    g.w = l.codes.as<uint8_t>();
    g.w_scales = l.scales.as<float>();
    g.n = l.n;
    g.k = l.k;
    g.lowrank = lowrank;
    g.up = l.fused_up.as<uint16_t>();
    g.rank = l.fused_rank;
    g.bias = l.bias.as<float>();
    g.gelu = gelu;
    g.y = y;
    if (next.codes != nullptr) {
        g.next_codes = next.codes;
        g.next_scales = next.scales;
        g.next_inv_smooth = next.layer->inv_smooth.as<float>();
        g.next_shift = next.layer->input_shift;
        g.next_unsigned = next.layer->unsigned_input;
    }
    gemm_w4a4(g, b.stream);
}

bool has_late_terms(const CudaLinear& l) { return l.unfused_branch.rank > 0 || l.updates.rank > 0; }

void require_input_finite(CudaBackend& b, const float* x, int64_t m, int64_t k) {
    auto* first = b.flag.as<unsigned long long>(1);
    const unsigned long long none = ~0ull;
    check(cudaMemcpyAsync(first, &none, sizeof none, cudaMemcpyHostToDevice, b.stream), "the input check");
    find_non_finite(x, m * k, first, b.stream);
    unsigned long long found = none;
    check(cudaMemcpyAsync(&found, first, sizeof found, cudaMemcpyDeviceToHost, b.stream), "the input check");
    check(cudaStreamSynchronize(b.stream), "the input check");
    if (found == none) return;
    float value = 0.0f;
    check(cudaMemcpy(&value, x + found, sizeof value, cudaMemcpyDeviceToHost), "the input check");
    const long long index = static_cast<long long>(found);
    fail(SVDQ_ERROR_NON_FINITE, std::string("x holds a non-finite value (") + (value != value ? "NaN" : value > 0 ? "Inf" : "-Inf") +
                                    ") at row " + std::to_string(index / k) + ", column " + std::to_string(index % k));
}

}  // namespace

CudaLinear* prepare_linear(CudaBackend& b, const svdq_plugin_linear_desc& d) {
    activate_device(b);
    require_desc(d.n > 0 && d.k > 0 && d.rank >= 0, "prepare_linear: n and k must be positive, rank not negative");
    require_desc(d.scheme == SVDQ_SCHEME_FLOAT || d.k % 64 == 0, "prepare_linear: a 4-bit layer's k must be a multiple of 64");
    auto layer = std::make_unique<CudaLinear>();
    CudaLinear& l = *layer;
    l.scheme = d.scheme;
    l.gelu = d.activation == SVDQ_ACTIVATION_GELU_TANH;
    l.n = d.n;
    l.k = d.k;
    const size_t nk = static_cast<size_t>(d.n * d.k), groups = static_cast<size_t>(d.n * (d.k / 64));
    l.bias = DeviceArray(d.bias, d.bias ? static_cast<size_t>(d.n) : 0);
    switch (d.scheme) {
        case SVDQ_SCHEME_FLOAT:
            require_desc(d.weight != nullptr, "prepare_linear: a float layer needs its weights");
            l.bf16_weights = d.weights_are_bf16 != 0;
            if (l.bf16_weights) {
                const std::vector<uint16_t> bits = bf16_bits(d.weight, nk);
                l.weight = DeviceArray(bits.data(), bits.size());
            } else {
                l.weight = DeviceArray(d.weight, nk);
            }
            break;
        case SVDQ_SCHEME_W4A16:
        case SVDQ_SCHEME_W4A4:
            require_desc(d.codes != nullptr && d.scales != nullptr, "prepare_linear: a 4-bit layer needs its codes and scales");
            l.codes = DeviceArray(d.codes, nk / 2);
            l.scales = DeviceArray(d.scales, groups);
            l.zeros = DeviceArray(d.zeros, d.zeros ? groups : 0);
            if (d.scheme == SVDQ_SCHEME_W4A16) break;
            l.inv_smooth = DeviceArray(d.inv_smooth, d.inv_smooth ? static_cast<size_t>(d.k) : 0);
            l.input_shift = d.input_shift;
            l.unsigned_input = d.unsigned_input != 0;
            if (d.rank == 0) break;
            require_desc(d.down != nullptr && d.up != nullptr, "prepare_linear: a low-rank branch needs down and up");
            if (d.branch_execution == SVDQ_BRANCH_FUSED) {
                const std::vector<uint16_t> down = bf16_bits(d.down, static_cast<size_t>(d.rank * d.k));
                const std::vector<uint16_t> up = bf16_bits(d.up, static_cast<size_t>(d.n * d.rank));
                l.fused_rank = d.rank;
                l.fused_down = DeviceArray(down.data(), down.size());
                l.fused_up = DeviceArray(up.data(), up.size());
            } else {
                const svdq_plugin_low_rank_update branch{d.rank, d.down, d.up, 1.0f};
                l.unfused_branch = low_rank_terms({&branch}, d.n, d.k);
            }
            break;
        default:
            fail(SVDQ_ERROR_INVALID_ARGUMENT, "prepare_linear: scheme " + std::to_string(d.scheme) + " is not a svdq_linear_scheme");
    }
    return layer.release();
}

void destroy_linear(CudaLinear* layer) noexcept { delete layer; }

uint64_t linear_memory_bytes(const CudaLinear& l) {
    const DeviceArray* arrays[] = {&l.bias,      &l.weight,     &l.codes,    &l.scales,
                                   &l.zeros,     &l.inv_smooth, &l.fused_down, &l.fused_up,
                                   &l.unfused_branch.down, &l.unfused_branch.up, &l.updates.down, &l.updates.up};
    uint64_t bytes = 0;
    for (const DeviceArray* a : arrays) bytes += a->bytes();
    return bytes;
}

void set_low_rank_updates(CudaBackend& b, CudaLinear& layer, const svdq_plugin_low_rank_update* updates, int32_t count) {
    activate_device(b);
    std::vector<const svdq_plugin_low_rank_update*> parts;
    for (int32_t i = 0; i < count; ++i) parts.push_back(updates + i);
    LowRankTerms terms = low_rank_terms(parts, layer.n, layer.k);
    check(cudaStreamSynchronize(b.stream), "waiting for the layer's last use");  // queued work may still read the old terms
    layer.updates = std::move(terms);
}

namespace {

void require_fits(const CudaLinear& l, const View& x, const View& y, const char* op) {
    require(x.row_stride == x.cols && y.row_stride == y.cols, SVDQ_ERROR_INTERNAL, "linear: x and y must be contiguous");
    if (x.cols != l.k || y.cols != l.n || x.rows != y.rows)
        fail(SVDQ_ERROR_SHAPE_MISMATCH, std::string(op) + ": x [" + std::to_string(x.rows) + ", " + std::to_string(x.cols) + "] and y [" +
                                            std::to_string(y.rows) + ", " + std::to_string(y.cols) + "] do not fit a layer of " +
                                            std::to_string(l.k) + " inputs and " + std::to_string(l.n) + " outputs");
}

}  // namespace

void run_mlp(CudaBackend& b, const CudaLinear& first, const CudaLinear& second, const View& x, const View& hidden, const View& y) {
    const bool fused = first.scheme == SVDQ_SCHEME_W4A4 && second.scheme == SVDQ_SCHEME_W4A4 && !has_late_terms(first) &&
                       !has_late_terms(second) && first.n == second.k && first.n % 64 == 0;
    if (!fused) {
        run_linear(b, first, x, hidden);
        run_linear(b, second, hidden, y);
        return;
    }
    require_fits(first, x, hidden, "mlp (first layer)");
    require_fits(second, hidden, y, "mlp (second layer)");
    activate_device(b);
    const int64_t m = x.rows;
    if (m == 0) return;
    require_input_finite(b, x.data, m, first.k);
    // Second's input codes live apart from the scratch the first layer's own quantization uses.
    auto* codes = b.next_codes.as<uint8_t>(static_cast<size_t>(m * second.k / 2));
    auto* scales = b.next_scales.as<float>(static_cast<size_t>(m * (second.k / 64)));
    run_w4a4(b, first, x.data, m, first.gelu, hidden.data, {}, {codes, scales, &second});
    run_w4a4(b, second, hidden.data, m, second.gelu, y.data, {codes, scales});
}

void run_linear(CudaBackend& b, const CudaLinear& l, const View& x, const View& y) {
    require_fits(l, x, y, "linear");
    activate_device(b);
    const int64_t m = x.rows;
    if (m == 0) return;
    require_input_finite(b, x.data, m, l.k);
    // Terms that join before the activation leave it to the end.
    const bool late_terms = has_late_terms(l);
    const bool gelu_now = l.gelu && !late_terms;
    const float* bias = l.bias.as<float>();
    switch (l.scheme) {
        case SVDQ_SCHEME_FLOAT:
            if (l.bf16_weights)
                gemm_bf16(b, x.data, m, l.k, l.weight.as<uint16_t>(), l.n, y.data);
            else
                gemm_f32(b, x.data, m, l.k, l.weight.as<float>(), l.n, 0.0f, y.data);
            bias_activation(y.data, m, l.n, bias, gelu_now, b.stream);
            break;
        case SVDQ_SCHEME_W4A16:
            gemm_w4a16({x.data, m, l.codes.as<uint8_t>(), l.scales.as<float>(), l.zeros.as<float>(), l.n, l.k, bias, gelu_now, y.data},
                       b.stream);
            break;
        case SVDQ_SCHEME_W4A4:
            run_w4a4(b, l, x.data, m, gelu_now, y.data);
            break;
    }
    if (!late_terms) return;
    add_low_rank(b, l.unfused_branch, x.data, m, l.n, l.k, y.data);
    add_low_rank(b, l.updates, x.data, m, l.n, l.k, y.data);
    bias_activation(y.data, m, l.n, nullptr, l.gelu, b.stream);
}

}  // namespace svdq::cuda
