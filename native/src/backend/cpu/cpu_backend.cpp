#include "backend/cpu/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "backend/cpu/cpu_linear.h"
#include "core/aligned.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace svdq {

namespace {

// Checks on every op call: messages are built only on failure, so a
// steady-state forward allocates nothing.
void require_contiguous(const TensorView& v, const char* op, const char* what) {
    if (!v.contiguous()) fail(SVDQ_ERROR_INTERNAL, std::string(op) + ": " + what + " must be contiguous");
}

std::string shape(const TensorView& t) { return shape_string({t.rows, t.cols}); }

void require_same_shape(const TensorView& a, const TensorView& b, const char* op) {
    if (a.rows != b.rows || a.cols != b.cols) fail(SVDQ_ERROR_INTERNAL, std::string(op) + ": " + shape(a) + " and " + shape(b) + " differ");
}

// q and out [queries, width], k and v [keys, width], width heads of head_dim.
void check_attention(const TensorView& q, const TensorView& k, const TensorView& v, int64_t head_dim, const TensorView& out,
                     const char* op) {
    for (const TensorView* t : {&q, &k, &v, &out}) require_contiguous(*t, op, "q, k, v and out");
    if (head_dim < 1 || q.cols % head_dim != 0)
        fail(SVDQ_ERROR_INVALID_ARGUMENT, std::string(op) + ": head_dim " + std::to_string(head_dim) + " must divide the width " +
                                              std::to_string(q.cols));
    if (k.cols != q.cols || v.cols != q.cols || out.cols != q.cols || v.rows != k.rows || out.rows != q.rows)
        fail(SVDQ_ERROR_INTERNAL, std::string(op) + ": q " + shape(q) + ", k " + shape(k) + ", v " + shape(v) + " and out " +
                                      shape(out) + " do not fit together");
}

}  // namespace

CpuBackend::CpuBackend(ThreadPool& pool, svdq_cpu_level level) : pool_(pool), kernels_(&cpu_kernels_for(level)) {}

std::string CpuBackend::description() const {
    return std::string("CPU backend, ") + cpu_level_name(kernels_->level) + " kernels (CPU supports " +
           cpu_level_name(detected_cpu_level()) + ")";
}

void* CpuBackend::allocate(size_t bytes) { return aligned_zeroed(std::max<size_t>(bytes, 1)).release(); }

void CpuBackend::release(void* data, size_t) noexcept { AlignedFree()(data); }

void CpuBackend::upload(const float* host, const TensorView& dst) {
    for (int64_t r = 0; r < dst.rows; ++r) std::memcpy(dst.data + r * dst.row_stride, host + r * dst.cols, dst.cols * sizeof(float));
}

void CpuBackend::download(const TensorView& src, float* host) {
    for (int64_t r = 0; r < src.rows; ++r) std::memcpy(host + r * src.cols, src.data + r * src.row_stride, src.cols * sizeof(float));
}

void CpuBackend::copy(const TensorView& src, const TensorView& dst) {
    require_same_shape(src, dst, "copy");
    for (int64_t r = 0; r < src.rows; ++r)
        std::memcpy(dst.data + r * dst.row_stride, src.data + r * src.row_stride, src.cols * sizeof(float));
}

std::unique_ptr<PreparedLinear> CpuBackend::prepare_linear(const LinearWeights& w) {
    return std::make_unique<CpuLinear>(*kernels_, pool_, w);
}

namespace {

// The layer as this backend's, checked against x [m, k] and y [m, n].
const CpuLinear& checked_layer(const PreparedLinear& layer, const TensorView& x, const TensorView& y, const char* op) {
    const auto* cpu = dynamic_cast<const CpuLinear*>(&layer);
    if (cpu == nullptr) fail(SVDQ_ERROR_INVALID_ARGUMENT, "the layer was prepared by another backend than this context's");
    require_contiguous(x, op, "x");
    require_contiguous(y, op, "y");
    if (x.cols != cpu->in_features() || y.cols != cpu->out_features() || x.rows != y.rows)
        fail(SVDQ_ERROR_INTERNAL, std::string(op) + ": x [" + std::to_string(x.rows) + ", " + std::to_string(x.cols) + "] and y [" +
                                      std::to_string(y.rows) + ", " + std::to_string(y.cols) + "] do not fit the layer's [" +
                                      std::to_string(cpu->out_features()) + ", " + std::to_string(cpu->in_features()) + "]");
    return *cpu;
}

}  // namespace

void CpuBackend::linear(const PreparedLinear& layer, const TensorView& x, const TensorView& y) {
    checked_layer(layer, x, y, "linear").forward(pool_, scratch_, x.data, x.rows, y.data);
}

namespace {

// The epilogue stages of a gated residual add into `out`, checked.
Epilogue gated_tail(const GatedResidual& out) {
    require_same_shape(out.residual, out.scratch, "linear_gated");
    if (out.addend.data != nullptr) require_same_shape(out.addend, out.scratch, "linear_gated");
    if (out.gate.rows != 1 || out.gate.cols != out.scratch.cols)
        fail(SVDQ_ERROR_INTERNAL, "linear_gated: the gate must be [1, " + std::to_string(out.scratch.cols) + "]");
    Epilogue tail;
    tail.addend = out.addend.data;
    tail.addend_stride = out.addend.row_stride;
    tail.gate = out.gate.data;
    tail.residual = out.residual.data;
    tail.residual_stride = out.residual.row_stride;
    return tail;
}

}  // namespace

void CpuBackend::linear_gated(const PreparedLinear& layer, const TensorView& x, const GatedResidual& out) {
    const CpuLinear& cpu = checked_layer(layer, x, out.scratch, "linear_gated");
    if (!cpu.fuses_epilogue()) return Backend::linear_gated(layer, x, out);
    // y (scratch) only receives partial sums between K blocks.
    cpu.forward(pool_, scratch_, x.data, x.rows, out.scratch.data, gated_tail(out));
}

void CpuBackend::linear_qk_norm_rope(const PreparedLinear& layer, const TensorView& x, const TensorView& y, const QkNormRope& n) {
    const CpuLinear& cpu = checked_layer(layer, x, y, "linear_qk_norm_rope");
    if (!cpu.fuses_epilogue()) return Backend::linear_qk_norm_rope(layer, x, y, n);
    const int64_t head_dim = n.q_weight.cols, d = y.cols / 3;
    if (y.cols != 3 * d || head_dim < 2 || head_dim % 2 != 0 || d % head_dim != 0 || n.k_weight.cols != head_dim ||
        n.cos.cols != head_dim || n.sin.cols != head_dim || n.cos.rows != y.rows || n.sin.rows != y.rows ||
        n.cos.row_stride != n.sin.row_stride)
        fail(SVDQ_ERROR_INTERNAL, "linear_qk_norm_rope: y [" + std::to_string(y.rows) + ", " + std::to_string(y.cols) +
                                      "] is not [q | k | v] of whole heads of the weights' and RoPE tables' width");
    const HeadStage heads{head_dim, d, n.q_weight.data, n.k_weight.data, n.eps, n.cos.data, n.sin.data, n.cos.row_stride};
    Epilogue tail;
    tail.heads = &heads;
    cpu.forward(pool_, scratch_, x.data, x.rows, y.data, tail);
}

void CpuBackend::mlp(const PreparedLinear& first, const PreparedLinear& second, const TensorView& x, const TensorView& hidden,
                     const TensorView& y) {
    const CpuLinear& fc1 = checked_layer(first, x, hidden, "mlp");
    const CpuLinear& fc2 = checked_layer(second, hidden, y, "mlp");
    if (!fc1.quantizes_for(fc2)) return Backend::mlp(first, second, x, hidden, y);
    // hidden: the tiles' workspace between K blocks, where the stage reads them.
    fc1.forward_quantizing(pool_, scratch_, x.data, x.rows, hidden.data, fc2);
    fc2.forward_quantized(pool_, scratch_, x.rows, y.data);
}

void CpuBackend::mlp_gated(const PreparedLinear& first, const PreparedLinear& second, const TensorView& x, const TensorView& hidden,
                           const GatedResidual& out) {
    const CpuLinear& fc1 = checked_layer(first, x, hidden, "mlp_gated");
    const CpuLinear& fc2 = checked_layer(second, hidden, out.scratch, "mlp_gated");
    if (!fc1.quantizes_for(fc2)) {
        linear(first, x, hidden);
        return linear_gated(second, hidden, out);
    }
    fc1.forward_quantizing(pool_, scratch_, x.data, x.rows, hidden.data, fc2);
    fc2.forward_quantized(pool_, scratch_, x.rows, out.scratch.data, gated_tail(out));
}

void CpuBackend::attention(const TensorView& q, const TensorView& k, const TensorView& v, int64_t head_dim,
                           AttentionPrecision precision, const TensorView& out) {
    check_attention(q, k, v, head_dim, out, "attention");
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    run_attention({q.data, k.data, v.data, q.rows, k.rows, q.cols / head_dim, head_dim, out.data, scale},
                  precision == AttentionPrecision::bf16);
}

void CpuBackend::biased_attention(const TensorView& q, const TensorView& k, const TensorView& v, int64_t head_dim,
                                  const AttentionBias& b, const TensorView& out) {
    check_attention(q, k, v, head_dim, out, "biased_attention");
    const int64_t heads = q.cols / head_dim;
    AttentionArgs args{q.data, k.data, v.data, q.rows, k.rows, heads, head_dim, out.data, b.scale};
    if (b.bias.data != nullptr) {
        if (b.bias.rows != heads * q.rows || b.bias.cols != k.rows)
            fail(SVDQ_ERROR_INTERNAL, "biased_attention: bias " + shape(b.bias) + " must be [heads * q rows, k rows] = [" +
                                          std::to_string(heads * q.rows) + ", " + std::to_string(k.rows) + "]");
        args.bias = b.bias.data;
        args.bias_stride = b.bias.row_stride;
    }
    if (b.key_bias.data != nullptr) {
        if (b.key_bias.rows != 1 || b.key_bias.cols != k.rows)
            fail(SVDQ_ERROR_INTERNAL, "biased_attention: key_bias " + shape(b.key_bias) + " must be [1, " + std::to_string(k.rows) + "]");
        args.key_bias = b.key_bias.data;
    }
    args.causal = b.causal;
    run_attention(args, false);
}

void CpuBackend::run_attention(const AttentionArgs& args, bool bf16) {
    const auto kernel = bf16 ? kernels_->attention_bf16 : kernels_->attention;
    const int64_t block = kernels_->attention_queries;
    const int64_t blocks = (args.queries + block - 1) / block;
    pool_.reserve_scratch(bf16 ? kernels_->attention_bf16_scratch(args) : kernels_->attention_scratch(args));
    // Consecutive items share a head, so its K and V stay warm in cache.
    pool_.parallel_for(args.heads * blocks, [&](int64_t item) {
        const int64_t head = item / blocks, q0 = item % blocks * block;
        kernel(args, {head, q0, std::min(args.queries, q0 + block)}, pool_.scratch());
    });
}

}  // namespace svdq
