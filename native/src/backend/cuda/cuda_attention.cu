// The CUDA backend's attention ops, with the semantics of the CPU's
// attention_scalar.cpp (attention) and cpu_biased_attention.cpp
// (biased_attention): one flash-style kernel for both. A block takes
// kQueries queries of one head, stages them in shared memory, and streams the
// head's keys and values through shared memory kKeys at a time with an online
// softmax: per query a running max m and sum l, the output accumulated
// unnormalised and rescaled by exp(m_old - m_new) when the max grows, divided
// by l at the end. The [queries, keys] score matrix never exists.
//
// Work inside a block (4 warps): warp w owns queries w * kRows .. + kRows of
// the tile. Per tile of 32 keys, the keys are staged, then lane j computes
// key j's dot product with each of the warp's queries; then the values are
// staged into the same shared memory (one buffer for both: room for a head
// of 512, the VAE's), and lane t, owning the column pairs t, t + 32, ... of
// each of the warp's queries, adds p_j v_j for every key j, p_j broadcast
// from lane j by a shuffle. Plain SIMT fp32 arithmetic, no tensor cores.
//
// Numerics. attention (FLUX, the VAE) stages q, k and v rounded to BF16
// (round to nearest even, __floats2bfloat162_rn) and computes scores, softmax
// and output in fp32: the "flash-style attention in BF16" of issue 18; its
// output is that of the CPU's fp32 attention on BF16-rounded inputs, up to
// fp32 summation order. biased_attention (T5, CLIP) stages fp32 values, as
// the CPU computes.
#include <cuda_bf16.h>

#include <cmath>

#include "backend/cuda/cuda_op_util.cuh"
#include "backend/cuda/cuda_ops.cuh"

namespace svdq::cuda {

namespace {

constexpr int kKeys = 32;  // keys per tile: one per lane
constexpr int kWarps = 4;
constexpr int kBlockThreads = 32 * kWarps;
constexpr int64_t kMaxHeadDim = 512;        // attention (BF16 staging)
constexpr int64_t kMaxBiasedHeadDim = 256;  // biased_attention (fp32 staging: twice the shared memory)

// Everything a block needs; views as base pointers and row strides in floats.
struct AttentionParams {
    const float* q;
    const float* k;
    const float* v;
    float* out;
    int64_t q_stride, k_stride, v_stride, out_stride;
    int64_t queries, keys, head_dim;
    float scale;
    const float* bias;  // [heads * queries, keys] or null
    int64_t bias_stride;
    const float* key_bias;  // [keys] or null
    bool causal;            // query i sees keys 0..i
};

// How values sit in shared memory: as pairs of adjacent columns.
struct Bf16Pairs {
    using Word = __nv_bfloat162;
    __device__ static Word pack(float a, float b) { return __floats2bfloat162_rn(a, b); }
    // (__bfloat1622float2 is sm_80+ in CUDA 11.8; these two are not.)
    __device__ static float2 unpack(Word w) { return make_float2(__low2float(w), __high2float(w)); }
};

struct FloatPairs {
    using Word = float2;
    __device__ static Word pack(float a, float b) { return make_float2(a, b); }
    __device__ static float2 unpack(Word w) { return w; }
};

// Columns 2 * pair and 2 * pair + 1 of a head's slice of a row.
template <class Pairs>
__device__ typename Pairs::Word load_pair(const float* slice, int pair) {
    return Pairs::pack(slice[2 * pair], slice[2 * pair + 1]);
}

// Rows first_key .. first_key + kKeys of a head's slice of m (keys or
// values) into tile, as column pairs; zeros past the last key (a weight of 0
// must not meet a NaN). Called by every thread of the block.
template <class Pairs, int kStride>
__device__ void stage_keys(typename Pairs::Word (*tile)[kStride], const float* m, int64_t stride, int64_t column,
                           int64_t first_key, int64_t keys, int pairs) {
    for (int i = threadIdx.x; i < kKeys * pairs; i += kBlockThreads) {
        const int j = i / pairs, w = i % pairs;
        const int64_t key = first_key + j;
        tile[j][w] = key < keys ? load_pair<Pairs>(m + element(key, column, stride), w) : Pairs::pack(0.0f, 0.0f);
    }
}

// Whether key `key` takes part in query `query`'s softmax (tile padding and
// the causal mask are out).
__host__ __device__ inline bool key_is_seen(const AttentionParams& p, int64_t query, int64_t key) {
    return query < p.queries && key < p.keys && (!p.causal || key <= query);
}

// The score of a seen key: scale q.k + bias + key_bias, the mask joining the
// bias first (as the CPU and transformers).
__device__ inline float biased_score(const AttentionParams& p, int64_t head, int64_t query, int64_t key, float dot) {
    float add = p.bias != nullptr ? p.bias[element(head * p.queries + query, key, p.bias_stride)] : 0.0f;
    if (p.key_bias != nullptr) add += p.key_bias[key];
    return p.scale * dot + add;
}

// kWords: column pairs per lane (head_dim / 2 <= 32 * kWords); kRows: queries per warp.
template <class Pairs, int kWords, int kRows>
__global__ void __launch_bounds__(kBlockThreads) flash_attention(AttentionParams p) {
    using Word = typename Pairs::Word;
    constexpr int kQueries = kWarps * kRows, kMaxPairs = 32 * kWords;
    __shared__ Word q_tile[kQueries][kMaxPairs];
    // The keys, then the values, of one tile. One pair of padding per key:
    // lane j reading pair w of key j hits bank (j + w) % 32 for BF16 pairs,
    // banks 2 (j + w) % 32 and the next for fp32 pairs (a half-warp per
    // transaction), so the score loop has no bank conflicts.
    __shared__ Word kv_tile[kKeys][kMaxPairs + 1];

    const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
    const int pairs = static_cast<int>(p.head_dim / 2);
    const int64_t head = blockIdx.y, column = head * p.head_dim;  // the head's first column in q, k, v and out
    const int64_t first_query = static_cast<int64_t>(blockIdx.x) * kQueries;
    const int64_t my_first_query = first_query + warp * kRows;

    for (int i = threadIdx.x; i < kQueries * pairs; i += kBlockThreads) {
        const int r = i / pairs, w = i % pairs;
        const int64_t query = first_query + r;
        q_tile[r][w] = query < p.queries ? load_pair<Pairs>(p.q + element(query, column, p.q_stride), w) : Pairs::pack(0.0f, 0.0f);
    }

    float m[kRows], l[kRows];  // running max and sum, the same in every lane of the warp
    float2 acc[kRows][kWords];  // unnormalised output, column pairs lane + 32 c
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
#pragma unroll
        for (int c = 0; c < kWords; ++c) acc[r][c] = make_float2(0.0f, 0.0f);
    }

    // Causal: no query of this block sees a key past its last query.
    const int64_t last_query = min(p.queries, first_query + kQueries) - 1;
    const int64_t keys = p.causal ? min(p.keys, last_query + 1) : p.keys;
    for (int64_t first_key = 0; first_key < keys; first_key += kKeys) {
        __syncthreads();  // the previous tile's values are consumed (the first time: the queries are staged)
        stage_keys<Pairs>(kv_tile, p.k, p.k_stride, column, first_key, p.keys, pairs);
        __syncthreads();

        // This lane's key against each of the warp's queries.
        float s[kRows];
#pragma unroll
        for (int r = 0; r < kRows; ++r) s[r] = 0.0f;
        for (int w = 0; w < pairs; ++w) {
            const float2 kw = Pairs::unpack(kv_tile[lane][w]);
#pragma unroll
            for (int r = 0; r < kRows; ++r) {
                const float2 qw = Pairs::unpack(q_tile[warp * kRows + r][w]);  // a broadcast
                s[r] += qw.x * kw.x + qw.y * kw.y;
            }
        }

        // Online softmax; s[r] becomes this lane's key's weight p.
        const int64_t key = first_key + lane;
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
            const int64_t query = my_first_query + r;
            const float score = key_is_seen(p, query, key) ? biased_score(p, head, query, key, s[r]) : -INFINITY;
            const float new_max = fmaxf(m[r], warp_max(score));
            // While every key so far is masked (max -inf), exponents against 0
            // keep l and acc at 0 where exp(-inf - -inf) would be NaN.
            const float base = new_max == -INFINITY ? 0.0f : new_max;
            const float correction = expf(m[r] - base);
            s[r] = expf(score - base);  // 0 for a key not seen
            l[r] = l[r] * correction + warp_sum(s[r]);
            m[r] = new_max;
#pragma unroll
            for (int c = 0; c < kWords; ++c) {
                acc[r][c].x *= correction;
                acc[r][c].y *= correction;
            }
        }

        __syncthreads();  // every warp's scores are done with the keys
        stage_keys<Pairs>(kv_tile, p.v, p.v_stride, column, first_key, p.keys, pairs);
        __syncthreads();

        // acc += p_j v_j over the tile's keys.
        for (int j = 0; j < kKeys; ++j) {
            float pj[kRows];
#pragma unroll
            for (int r = 0; r < kRows; ++r) pj[r] = __shfl_sync(kFullWarp, s[r], j);
#pragma unroll
            for (int c = 0; c < kWords; ++c) {
                const int w = lane + 32 * c;
                if (w >= pairs) continue;
                const float2 vw = Pairs::unpack(kv_tile[j][w]);
#pragma unroll
                for (int r = 0; r < kRows; ++r) {
                    acc[r][c].x += pj[r] * vw.x;
                    acc[r][c].y += pj[r] * vw.y;
                }
            }
        }
    }

#pragma unroll
    for (int r = 0; r < kRows; ++r) {
        const int64_t query = my_first_query + r;
        if (query >= p.queries) continue;
        float* o = p.out + element(query, column, p.out_stride);
        const float inv = 1.0f / l[r];
#pragma unroll
        for (int c = 0; c < kWords; ++c) {
            const int w = lane + 32 * c;
            if (w >= pairs) continue;
            o[2 * w] = acc[r][c].x * inv;
            o[2 * w + 1] = acc[r][c].y * inv;
        }
    }
}

template <class Pairs, int kWords, int kRows>
void launch_flash(CudaBackend& b, const AttentionParams& p, int64_t heads, const char* op) {
    constexpr int kQueries = kWarps * kRows, kMaxPairs = 32 * kWords;
    static_assert(sizeof(typename Pairs::Word) * (kQueries * kMaxPairs + kKeys * (kMaxPairs + 1)) <= 48 * 1024,
                  "a block's tiles fit in 48 KiB of static shared memory");
    if (heads > 65535) fail(SVDQ_ERROR_INVALID_ARGUMENT, std::string(op) + ": " + std::to_string(heads) + " heads exceed CUDA's grid");
    const dim3 grid(grid_blocks((p.queries + kQueries - 1) / kQueries, op), static_cast<unsigned>(heads));
    flash_attention<Pairs, kWords, kRows><<<grid, kBlockThreads, 0, b.stream>>>(p);
    check_launch(op);
}

void check_head_dim(const View& q, int64_t head_dim, int64_t max_head_dim, const char* op) {
    if (head_dim < 1 || q.cols % head_dim != 0)
        fail(SVDQ_ERROR_INVALID_ARGUMENT,
             std::string(op) + ": head_dim " + std::to_string(head_dim) + " must divide the width " + std::to_string(q.cols));
    if (head_dim % 8 != 0 || head_dim > max_head_dim)
        fail(SVDQ_ERROR_UNSUPPORTED, std::string(op) + ": head_dim " + std::to_string(head_dim) +
                                         " is not supported by the CUDA backend (a multiple of 8 up to " +
                                         std::to_string(max_head_dim) + ")");
}

AttentionParams params_of(const View& q, const View& k, const View& v, int64_t head_dim, const View& out) {
    AttentionParams p{};
    p.q = q.data;
    p.k = k.data;
    p.v = v.data;
    p.out = out.data;
    p.q_stride = q.row_stride;
    p.k_stride = k.row_stride;
    p.v_stride = v.row_stride;
    p.out_stride = out.row_stride;
    p.queries = q.rows;
    p.keys = k.rows;
    p.head_dim = head_dim;
    p.scale = 1.0f;
    p.bias = nullptr;
    p.bias_stride = 0;
    p.key_bias = nullptr;
    p.causal = false;
    return p;
}

}  // namespace

void attention(CudaBackend& b, const View& q, const View& k, const View& v, int64_t head_dim, const View& out) {
    for (const View* t : {&q, &k, &v, &out}) require_contiguous(*t, "attention", "q, k, v and out");
    check_head_dim(q, head_dim, kMaxHeadDim, "attention");
    require_shape(k, q.rows, q.cols, "attention", "k");
    require_shape(v, q.rows, q.cols, "attention", "v");
    require_shape(out, q.rows, q.cols, "attention", "out");
    const int64_t heads = q.cols / head_dim;
    if (q.rows == 0 || heads == 0) return;
    AttentionParams p = params_of(q, k, v, head_dim, out);
    p.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));  // as the CPU
    if (head_dim <= 64)
        launch_flash<Bf16Pairs, 1, 8>(b, p, heads, "attention");
    else if (head_dim <= 128)  // FLUX
        launch_flash<Bf16Pairs, 2, 8>(b, p, heads, "attention");
    else if (head_dim <= 256)
        launch_flash<Bf16Pairs, 4, 4>(b, p, heads, "attention");
    else  // the VAE's one head of 512
        launch_flash<Bf16Pairs, 8, 2>(b, p, heads, "attention");
}

void biased_attention(CudaBackend& b, const View& q, const View& k, const View& v, int64_t head_dim,
                      const svdq_plugin_attention_bias& bias, const View& out) {
    for (const View* t : {&q, &k, &v, &out}) require_contiguous(*t, "biased_attention", "q, k, v and out");
    check_head_dim(q, head_dim, kMaxBiasedHeadDim, "biased_attention");
    require_shape(k, k.rows, q.cols, "biased_attention", "k");
    require_shape(v, k.rows, q.cols, "biased_attention", "v");
    require_shape(out, q.rows, q.cols, "biased_attention", "out");
    const int64_t heads = q.cols / head_dim;
    if (bias.bias.data != nullptr) require_shape(bias.bias, heads * q.rows, k.rows, "biased_attention", "bias");
    if (bias.key_bias.data != nullptr) require_shape(bias.key_bias, 1, k.rows, "biased_attention", "key_bias");
    if (q.rows == 0 || heads == 0) return;
    AttentionParams p = params_of(q, k, v, head_dim, out);
    p.scale = bias.scale;
    p.bias = bias.bias.data;
    p.bias_stride = bias.bias.row_stride;
    p.key_bias = bias.key_bias.data;
    p.causal = bias.causal != 0;
    if (head_dim <= 64)  // T5, CLIP
        launch_flash<FloatPairs, 1, 8>(b, p, heads, "biased_attention");
    else if (head_dim <= 128)
        launch_flash<FloatPairs, 2, 4>(b, p, heads, "biased_attention");
    else
        launch_flash<FloatPairs, 4, 2>(b, p, heads, "biased_attention");
}

}  // namespace svdq::cuda
