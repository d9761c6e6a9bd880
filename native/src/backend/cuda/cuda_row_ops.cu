// The CUDA backend's row-wise and element-wise ops, with the semantics of the
// CPU's cpu_row_ops.cpp, cpu_elementwise_ops.cpp and layer_norm_rows.h:
// LayerNorm (affine or modulated), RMSNorm per head, RoPE, activations and
// the element-wise updates, on views with any row stride. Norms take one
// block per row (or head slice) and reduce in fp32 (warp shuffles, then one
// partial per warp); element-wise ops take one thread per element.
#include <cmath>

#include "backend/cuda/cuda_kernels.cuh"
#include "backend/cuda/cuda_op_util.cuh"
#include "backend/cuda/cuda_ops.cuh"

namespace svdq::cuda {

namespace {

constexpr int kRowThreads = 256;   // LayerNorm: FLUX's 3072 wide rows are 12 values per thread
constexpr int kHeadThreads = 128;  // RMSNorm: FLUX's 128 wide heads are one value per thread

// ---- Activations (core/numerics/activations.h and the CPU's activate) ----

__device__ inline float silu_of(float v) { return v / (1.0f + expf(-v)); }

__device__ inline float activation_of(float v, int32_t activation) {
    switch (activation) {
        case SVDQ_PLUGIN_GELU_ERF: return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
        case SVDQ_PLUGIN_GELU_TANH: return gelu_tanh(v);
        default: return v / (1.0f + expf(-1.702f * v));  // SVDQ_PLUGIN_QUICK_GELU (checked on the host)
    }
}

// ---- LayerNorm: the two affines of backend.h ----

struct WeightAndBias {  // layer_norm: n * weight + bias
    const float* weight;
    const float* bias;
    __device__ float operator()(int64_t j, float n) const { return n * weight[j] + bias[j]; }
};

struct Modulation {  // layer_norm_modulate: n * (1 + scale) + shift
    const float* scale;
    const float* shift;
    __device__ float operator()(int64_t j, float n) const { return n * (1.0f + scale[j]) + shift[j]; }
};

// One block per row: the mean, then the biased variance around it (two
// passes, fp32), then out[j] = affine(j, (x[j] - mean) * inv_std). Each
// thread reads and writes the same columns in every pass, so out may be x.
template <class Affine>
__global__ void __launch_bounds__(kRowThreads)
    layer_norm_rows(const float* x, int64_t x_stride, int64_t d, float eps, Affine affine, float* out, int64_t out_stride) {
    __shared__ float partial[32];
    const float* row = x + element(blockIdx.x, 0, x_stride);
    float* out_row = out + element(blockIdx.x, 0, out_stride);
    float sum = 0.0f;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) sum += row[j];
    const float mean = block_sum(sum, partial) / static_cast<float>(d);
    float squares = 0.0f;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
        const float centred = row[j] - mean;
        squares += centred * centred;
    }
    const float inv_std = 1.0f / sqrtf(block_sum(squares, partial) / static_cast<float>(d) + eps);
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) out_row[j] = affine(j, (row[j] - mean) * inv_std);
}

template <class Affine>
void launch_layer_norm(CudaBackend& b, const View& x, float eps, const Affine& affine, const View& out, const char* op) {
    require_shape(out, x.rows, x.cols, op, "out");
    if (x.rows == 0 || x.cols == 0) return;
    layer_norm_rows<<<grid_blocks(x.rows, op), kRowThreads, 0, b.stream>>>(x.data, x.row_stride, x.cols, eps, affine,
                                                                             out.data, out.row_stride);
    check_launch(op);
}

// One block per (row, head): the slice's mean square in fp32, then
// v * inv_rms * weight, in place.
__global__ void __launch_bounds__(kHeadThreads)
    rms_norm_slices(float* x, int64_t x_stride, int64_t heads, int64_t head_dim, float eps, const float* weight) {
    __shared__ float partial[32];
    const int64_t row = blockIdx.x / heads, head = blockIdx.x % heads;
    float* v = x + element(row, head * head_dim, x_stride);
    float squares = 0.0f;
    for (int64_t j = threadIdx.x; j < head_dim; j += blockDim.x) squares += v[j] * v[j];
    const float inv_rms = 1.0f / sqrtf(block_sum(squares, partial) / static_cast<float>(head_dim) + eps);
    for (int64_t j = threadIdx.x; j < head_dim; j += blockDim.x) v[j] = v[j] * inv_rms * weight[j];
}

// ---- Element-wise ops: op(row, col) of for_each_element ----

struct SiluInPlace {
    float* x;
    int64_t stride;
    __device__ void operator()(int64_t r, int64_t c) const {
        float& v = x[element(r, c, stride)];
        v = silu_of(v);
    }
};

struct ActivateInPlace {
    float* x;
    int64_t stride;
    int32_t activation;
    __device__ void operator()(int64_t r, int64_t c) const {
        float& v = x[element(r, c, stride)];
        v = activation_of(v, activation);
    }
};

struct MultiplyInPlace {  // x *= other
    float* x;
    int64_t x_stride;
    const float* other;
    int64_t other_stride;
    __device__ void operator()(int64_t r, int64_t c) const { x[element(r, c, x_stride)] *= other[element(r, c, other_stride)]; }
};

struct AddInPlace {  // x += update
    float* x;
    int64_t x_stride;
    const float* update;
    int64_t update_stride;
    __device__ void operator()(int64_t r, int64_t c) const { x[element(r, c, x_stride)] += update[element(r, c, update_stride)]; }
};

struct GatedAddInPlace {  // x += gate[c] * update
    float* x;
    int64_t x_stride;
    const float* update;
    int64_t update_stride;
    const float* gate;
    __device__ void operator()(int64_t r, int64_t c) const {
        x[element(r, c, x_stride)] += gate[c] * update[element(r, c, update_stride)];
    }
};

// RoPE on the interleaved pair (x[2p], x[2p + 1]) of a row, p counted over
// the whole row; j = 2p % dim is the pair's place in its head and in the
// row's cos and sin.
struct RotatePair {
    float* x;
    int64_t x_stride;
    const float* cos;
    int64_t cos_stride;
    const float* sin;
    int64_t sin_stride;
    int64_t dim;
    __device__ void operator()(int64_t r, int64_t pair) const {
        const int64_t col = 2 * pair, j = col % dim;
        float* v = x + element(r, col, x_stride);
        const float* c = cos + element(r, j, cos_stride);
        const float* s = sin + element(r, j, sin_stride);
        const float a = v[0], b = v[1];
        v[0] = a * c[0] - b * s[0];
        v[1] = b * c[1] + a * s[1];
    }
};

}  // namespace

void layer_norm(CudaBackend& b, const View& x, const View& weight, const View& bias, float eps, const View& out) {
    require_parameter_row(weight, x.cols, "layer_norm", "weight");
    require_parameter_row(bias, x.cols, "layer_norm", "bias");
    launch_layer_norm(b, x, eps, WeightAndBias{weight.data, bias.data}, out, "layer_norm");
}

void layer_norm_modulate(CudaBackend& b, const View& x, const View& scale, const View& shift, float eps, const View& out) {
    require_parameter_row(scale, x.cols, "layer_norm_modulate", "scale");
    require_parameter_row(shift, x.cols, "layer_norm_modulate", "shift");
    launch_layer_norm(b, x, eps, Modulation{scale.data, shift.data}, out, "layer_norm_modulate");
}

void rms_norm_heads(CudaBackend& b, const View& x, const View& weight, float eps) {
    const int64_t head_dim = weight.cols;
    if (head_dim < 1 || x.cols % head_dim != 0)
        fail(SVDQ_ERROR_SHAPE_MISMATCH, "rms_norm_heads: weight " + shape_text(weight) + " does not split x " +
                                            shape_text(x) + " into heads");
    require_parameter_row(weight, head_dim, "rms_norm_heads", "weight");
    const int64_t heads = x.cols / head_dim;
    if (x.rows == 0 || heads == 0) return;
    rms_norm_slices<<<grid_blocks(x.rows * heads, "rms_norm_heads"), kHeadThreads, 0, b.stream>>>(
        x.data, x.row_stride, heads, head_dim, eps, weight.data);
    check_launch("rms_norm_heads");
}

void rope(CudaBackend& b, const View& x, const View& cos, const View& sin) {
    const int64_t dim = cos.cols;
    if (dim < 2 || dim % 2 != 0 || x.cols % dim != 0 || sin.cols != dim || cos.rows < x.rows || sin.rows < x.rows)
        fail(SVDQ_ERROR_SHAPE_MISMATCH, "rope: cos " + shape_text(cos) + " and sin " + shape_text(sin) +
                                            " must be [rows, head_dim] with an even head_dim dividing x " + shape_text(x));
    launch_for_each_element(b, x.rows, x.cols / 2,
                            RotatePair{x.data, x.row_stride, cos.data, cos.row_stride, sin.data, sin.row_stride, dim}, "rope");
}

void silu(CudaBackend& b, const View& x) { launch_for_each_element(b, x.rows, x.cols, SiluInPlace{x.data, x.row_stride}, "silu"); }

void activate(CudaBackend& b, const View& x, int32_t activation) {
    if (activation != SVDQ_PLUGIN_GELU_ERF && activation != SVDQ_PLUGIN_GELU_TANH && activation != SVDQ_PLUGIN_QUICK_GELU)
        fail(SVDQ_ERROR_INVALID_ARGUMENT, "activate: " + std::to_string(activation) + " is not an activation");
    launch_for_each_element(b, x.rows, x.cols, ActivateInPlace{x.data, x.row_stride, activation}, "activate");
}

void multiply(CudaBackend& b, const View& x, const View& other) {
    require_shape(other, x.rows, x.cols, "multiply", "other");
    launch_for_each_element(b, x.rows, x.cols, MultiplyInPlace{x.data, x.row_stride, other.data, other.row_stride}, "multiply");
}

void add(CudaBackend& b, const View& x, const View& update) {
    require_shape(update, x.rows, x.cols, "add", "update");
    launch_for_each_element(b, x.rows, x.cols, AddInPlace{x.data, x.row_stride, update.data, update.row_stride}, "add");
}

void gated_add(CudaBackend& b, const View& x, const View& update, const View& gate) {
    require_shape(update, x.rows, x.cols, "gated_add", "update");
    require_parameter_row(gate, x.cols, "gated_add", "gate");
    launch_for_each_element(b, x.rows, x.cols,
                            GatedAddInPlace{x.data, x.row_stride, update.data, update.row_stride, gate.data}, "gated_add");
}

}  // namespace svdq::cuda
