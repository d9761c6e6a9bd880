/* The door between libsvdquant and a backend built as a library of its own
 * (libsvdquant_cuda), loaded at run time when a context asks for it, so the
 * engine and its package never depend on a GPU toolkit. Plain C: the two
 * libraries each carry their own C++ runtime, so no C++ object, exception or
 * allocation crosses it. Every function returning int32_t returns a
 * svdq_status; on failure last_error() gives the calling thread's message.
 *
 * The engine prepares everything host-side first (quantizing, smoothing, the
 * branch reading the raw input; backend/plugin_backend.cpp), so a plugin only
 * uploads values into its own layout and runs the ops of backend/backend.h.
 * Views name plugin memory unless the argument says host. */
#ifndef SVDQ_BACKEND_PLUGIN_H
#define SVDQ_BACKEND_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SVDQ_PLUGIN_ABI_VERSION 3
/* The function a plugin library exports (an svdq_backend_plugin_entry). */
#define SVDQ_PLUGIN_ENTRY_SYMBOL "svdq_backend_plugin_get"

/* How a plugin library (C++) declares that function: exported from its DLL
 * on Windows, visible on ELF. */
#ifdef __cplusplus
#if defined(_WIN32)
#define SVDQ_PLUGIN_EXPORT extern "C" __declspec(dllexport)
#else
#define SVDQ_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))
#endif
#endif

typedef struct svdq_plugin_view {
    float* data;
    int64_t rows, cols, row_stride; /* row_stride >= cols, in floats */
} svdq_plugin_view;

typedef struct svdq_plugin_device {
    char name[256];
    uint64_t total_memory_bytes, free_memory_bytes;
    int32_t compute_capability; /* major * 10 + minor */
    int32_t multiprocessors;
} svdq_plugin_device;

/* A linear layer as the engine prepared it on the host. Schemes and
 * activations are the svdq_linear_scheme / svdq_activation values. */
typedef struct svdq_plugin_linear_desc {
    int32_t scheme;
    int32_t activation;
    int32_t branch_execution;  /* svdq_branch_execution (W4A4 with a branch) */
    int64_t n, k, rank;
    const float* bias;         /* [n] or NULL */
    /* FLOAT: the weights [n, k]; weights_are_bf16: every one is a BF16 value. */
    const float* weight;
    int32_t weights_are_bf16;
    /* W4A16 and W4A4 (INT4): two's-complement nibbles [n, k / 2], column j in
     * byte j / 2, low nibble first; scales [n, k / 64] (BF16 values). */
    const uint8_t* codes;
    const float* scales;
    const float* zeros;        /* W4A16: AWQ zero points [n, k / 64] or NULL */
    /* W4A4: the activations are quantized as Q((x + input_shift) * inv_smooth)
     * with levels 0..15 when unsigned_input, else -8..7 (absmax / 7). */
    const float* inv_smooth;   /* [k] or NULL */
    float input_shift;
    int32_t unsigned_input;
    const float* down;         /* [rank, k], reading the raw input (BF16 values) */
    const float* up;           /* [n, rank] (BF16 values) */
} svdq_plugin_linear_desc;

/* y += scale * (x down^T) up^T before the activation. */
typedef struct svdq_plugin_low_rank_update {
    int64_t rank;
    const float* down; /* host [rank, k] */
    const float* up;   /* host [n, rank] */
    float scale;
} svdq_plugin_low_rank_update;

typedef struct svdq_plugin_attention_bias {
    float scale;
    svdq_plugin_view bias;     /* data NULL: absent */
    svdq_plugin_view key_bias; /* data NULL: absent */
    int32_t causal;
} svdq_plugin_attention_bias;

typedef struct svdq_plugin_conv_geometry {
    int64_t height, width, upsample, stride, pad_top, pad_left, out_height, out_width;
} svdq_plugin_conv_geometry;

/* Element-wise activations (backend.h's Activation). */
enum { SVDQ_PLUGIN_GELU_ERF = 0, SVDQ_PLUGIN_GELU_TANH = 1, SVDQ_PLUGIN_QUICK_GELU = 2 };

typedef struct svdq_backend_plugin {
    uint32_t abi_version; /* SVDQ_PLUGIN_ABI_VERSION */
    const char* name;     /* "CUDA" */
    const char* (*last_error)(void);

    /* Devices: a count of 0 with SVDQ_ERROR_UNSUPPORTED and the reason (no
     * driver, no device, none of a supported architecture). */
    int32_t (*device_count)(int32_t* out_count);
    int32_t (*device_info)(int32_t ordinal, svdq_plugin_device* out);

    int32_t (*create)(int32_t ordinal, void** out_backend);
    void (*destroy)(void* backend);

    int32_t (*allocate)(void* backend, size_t bytes, void** out_data);
    void (*release)(void* backend, void* data);
    int32_t (*upload)(void* backend, const float* host, svdq_plugin_view dst);
    int32_t (*download)(void* backend, svdq_plugin_view src, float* host);
    int32_t (*copy)(void* backend, svdq_plugin_view src, svdq_plugin_view dst);

    int32_t (*prepare_linear)(void* backend, const svdq_plugin_linear_desc* desc, void** out_linear,
                              uint64_t* out_memory_bytes);
    void (*destroy_linear)(void* linear);
    /* Replaces the layer's updates as a whole (count 0: none); changes nothing on failure. */
    int32_t (*set_low_rank_updates)(void* backend, void* linear, const svdq_plugin_low_rank_update* updates,
                                    int32_t count, uint64_t* out_memory_bytes);
    /* Non-finite x: SVDQ_ERROR_NON_FINITE. */
    int32_t (*linear)(void* backend, void* linear, svdq_plugin_view x, svdq_plugin_view y);
    /* y = second(first(x)), first's output in hidden (backend.h's mlp). */
    int32_t (*mlp)(void* backend, void* first, void* second, svdq_plugin_view x, svdq_plugin_view hidden, svdq_plugin_view y);

    /* precision: SVDQ_ATTENTION_FP32 or SVDQ_ATTENTION_BF16 (backend.h's AttentionPrecision). */
    int32_t (*attention)(void* backend, svdq_plugin_view q, svdq_plugin_view k, svdq_plugin_view v, int64_t head_dim,
                         int32_t precision, svdq_plugin_view out);
    int32_t (*biased_attention)(void* backend, svdq_plugin_view q, svdq_plugin_view k, svdq_plugin_view v,
                                int64_t head_dim, const svdq_plugin_attention_bias* bias, svdq_plugin_view out);
    int32_t (*layer_norm)(void* backend, svdq_plugin_view x, svdq_plugin_view weight, svdq_plugin_view bias, float eps,
                          svdq_plugin_view out);
    int32_t (*activate)(void* backend, svdq_plugin_view x, int32_t activation);
    int32_t (*multiply)(void* backend, svdq_plugin_view x, svdq_plugin_view other);
    int32_t (*layer_norm_modulate)(void* backend, svdq_plugin_view x, svdq_plugin_view scale, svdq_plugin_view shift,
                                   float eps, svdq_plugin_view out);
    int32_t (*rms_norm_heads)(void* backend, svdq_plugin_view x, svdq_plugin_view weight, float eps);
    int32_t (*rope)(void* backend, svdq_plugin_view x, svdq_plugin_view cos, svdq_plugin_view sin);
    int32_t (*silu)(void* backend, svdq_plugin_view x);
    int32_t (*group_norm)(void* backend, svdq_plugin_view x, int64_t groups, svdq_plugin_view weight,
                          svdq_plugin_view bias, float eps, int32_t silu, svdq_plugin_view out);
    int32_t (*conv3x3_patches)(void* backend, svdq_plugin_view image, const svdq_plugin_conv_geometry* geometry,
                               int64_t first_out_row, svdq_plugin_view out);
    int32_t (*add)(void* backend, svdq_plugin_view x, svdq_plugin_view update);
    int32_t (*gated_add)(void* backend, svdq_plugin_view x, svdq_plugin_view update, svdq_plugin_view gate);
} svdq_backend_plugin;

typedef const svdq_backend_plugin* (*svdq_backend_plugin_entry)(void);

#ifdef __cplusplus
}
#endif

#endif
