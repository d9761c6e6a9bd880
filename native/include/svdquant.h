/*
 * svdquant.h - the whole C API of the SvdQuant engine.
 *
 * Rules (see docs/architecture.md):
 *  - Fallible functions return svdq_status; results go through out-pointers.
 *    svdq_last_error_message() describes the calling thread's last failure.
 *  - Handles are opaque; each has one *_destroy that accepts NULL.
 *  - Only blittable types cross: fixed-width integers, float, pointers and
 *    plain structs whose first field is struct_size. Enum values travel as
 *    int32_t so the same bindings work under DllImport (Mono/IL2CPP) and .NET.
 *  - A context is used by one thread at a time; separate contexts may run in
 *    parallel. Layers are immutable after creation and may be shared.
 */
#ifndef SVDQUANT_H
#define SVDQUANT_H

#include <stdint.h>

#if defined(_WIN32)
#  if defined(SVDQ_BUILDING_LIBRARY)
#    define SVDQ_API __declspec(dllexport)
#  else
#    define SVDQ_API __declspec(dllimport)
#  endif
#else
#  define SVDQ_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Constants as an enum so that binding generators see them. */
typedef enum svdq_constants {
    SVDQ_ABI_VERSION = 1,     /* bumped on any breaking change of this header */
    SVDQ_MAX_DIMS = 8,        /* most dimensions a tensor may have */
    SVDQ_INT4_GROUP_SIZE = 64 /* INT4 group size along K (weights and activations) */
} svdq_constants;

typedef enum svdq_status {
    SVDQ_OK = 0,
    SVDQ_ERROR_INVALID_ARGUMENT = 1, /* a NULL pointer or an out-of-range value */
    SVDQ_ERROR_SHAPE_MISMATCH = 2,   /* tensor shapes do not fit together */
    SVDQ_ERROR_DTYPE = 3,            /* a tensor has a dtype the call does not take */
    SVDQ_ERROR_NON_FINITE = 4,       /* NaN or Inf where finite numbers are required */
    SVDQ_ERROR_OUT_OF_MEMORY = 5,
    SVDQ_ERROR_UNSUPPORTED = 6,      /* a backend or feature this build or machine lacks */
    SVDQ_ERROR_IO = 7,               /* a file could not be opened, read or written */
    SVDQ_ERROR_FORMAT = 8,           /* a file is corrupt or not in the expected format */
    SVDQ_ERROR_CANCELLED = 9,        /* a progress callback asked to stop */
    SVDQ_ERROR_INTERNAL = 10         /* a bug: please report it with the message */
} svdq_status;

typedef enum svdq_dtype {
    SVDQ_DTYPE_F32 = 0,
    SVDQ_DTYPE_F16 = 1,
    SVDQ_DTYPE_BF16 = 2,
    SVDQ_DTYPE_I8 = 3,
    SVDQ_DTYPE_U8 = 4,
    SVDQ_DTYPE_I32 = 5,
    SVDQ_DTYPE_I64 = 6
} svdq_dtype;

typedef enum svdq_backend {
    SVDQ_BACKEND_CPU = 0,
    SVDQ_BACKEND_CUDA = 1
} svdq_backend;

/* CPU kernel level. AUTO picks the best the CPU supports; a lower value caps
 * it (tests use this to cover every path on one machine). The environment
 * variable SVDQ_CPU_LEVEL=scalar|avx2|avx512_vnni caps it the same way. */
typedef enum svdq_cpu_level {
    SVDQ_CPU_AUTO = 0,
    SVDQ_CPU_SCALAR = 1,
    SVDQ_CPU_AVX2 = 2,
    SVDQ_CPU_AVX512_VNNI = 3
} svdq_cpu_level;

typedef enum svdq_log_level {
    SVDQ_LOG_DEBUG = 0,
    SVDQ_LOG_INFO = 1,
    SVDQ_LOG_WARNING = 2,
    SVDQ_LOG_ERROR = 3
} svdq_log_level;

/* Precision of a linear layer's weights and activations. */
typedef enum svdq_linear_kind {
    SVDQ_LINEAR_FLOAT = 0, /* fp32 weights and activations */
    SVDQ_LINEAR_W4A16 = 1, /* INT4 g64 weights, float activations */
    SVDQ_LINEAR_W4A4 = 2   /* INT4 g64 weights and activations; optional smoothing and low-rank branch */
} svdq_linear_kind;

/* Fused epilogue applied after bias. */
typedef enum svdq_activation {
    SVDQ_ACTIVATION_NONE = 0,
    SVDQ_ACTIVATION_GELU_TANH = 1
} svdq_activation;

/* How a W4A4 layer runs its low-rank branch. FUSED is the engine's point:
 * the down-projection rides on the activation quantizer's single read of X
 * and the up-projection on the GEMM epilogue. UNFUSED runs both as separate
 * passes over X and Y, as a plain implementation would: kept to measure
 * what fusion saves. */
typedef enum svdq_branch_execution {
    SVDQ_BRANCH_FUSED = 0,
    SVDQ_BRANCH_UNFUSED = 1
} svdq_branch_execution;

typedef struct svdq_context svdq_context;
typedef struct svdq_tensor svdq_tensor;
typedef struct svdq_linear svdq_linear;

/* Receives engine log lines at or above the context's log level. Called on
 * the thread that made the call into the engine. */
typedef void (*svdq_log_fn)(int32_t level, const char* message, void* user);

typedef struct svdq_context_options {
    uint32_t struct_size;     /* sizeof(svdq_context_options) */
    int32_t backend;          /* svdq_backend */
    int32_t num_threads;      /* 0: one per core */
    int32_t cpu_level;        /* svdq_cpu_level */
    int32_t log_level;        /* svdq_log_level */
    svdq_log_fn log_callback; /* may be NULL */
    void* log_user;
} svdq_context_options;

typedef struct svdq_context_info {
    uint32_t struct_size; /* sizeof(svdq_context_info) */
    int32_t backend;      /* svdq_backend */
    int32_t num_threads;
    int32_t cpu_level;    /* the level actually used, never AUTO */
} svdq_context_info;

/* Describes a linear layer Y = X W^T + bias. For SVDQ_LINEAR_W4A4, `smooth`
 * (lambda, [K]) divides the activations and multiplies the weights, and the
 * low-rank branch L1 L2 (up [N, r], down [r, K], a factorisation of the
 * smoothed weight W * lambda) is kept in float while only the residual
 * W * lambda - L1 L2 is quantized. Both are optional: none gives naive
 * round-to-nearest W4A4, smooth alone SmoothQuant, both SVDQuant.
 * Weight-like tensors may be F32, F16 or BF16. */
typedef struct svdq_linear_desc {
    uint32_t struct_size;             /* sizeof(svdq_linear_desc) */
    int32_t kind;                     /* svdq_linear_kind */
    int32_t activation;               /* svdq_activation */
    const svdq_tensor* weight;        /* [N, K] */
    const svdq_tensor* bias;          /* [N] or NULL */
    const svdq_tensor* smooth;        /* [K] positive, or NULL (W4A4 only) */
    const svdq_tensor* lowrank_up;    /* [N, r] or NULL (W4A4 only, with lowrank_down) */
    const svdq_tensor* lowrank_down;  /* [r, K] or NULL */
    int32_t branch_execution;         /* svdq_branch_execution */
} svdq_linear_desc;

typedef struct svdq_linear_info {
    uint32_t struct_size; /* sizeof(svdq_linear_info) */
    int32_t kind;         /* svdq_linear_kind */
    int32_t activation;   /* svdq_activation */
    int32_t rank;         /* 0 without a low-rank branch */
    int32_t has_bias;
    int32_t has_smooth;
    int32_t branch_execution; /* svdq_branch_execution */
    int64_t in_features;  /* K */
    int64_t out_features; /* N */
    uint64_t weight_bytes; /* bytes the layer's parameters occupy in memory */
} svdq_linear_info;

/* ---- library ---------------------------------------------------------- */
SVDQ_API const char* svdq_version(void);       /* "major.minor.patch" */
SVDQ_API int32_t svdq_abi_version(void);       /* SVDQ_ABI_VERSION of the built library */
SVDQ_API const char* svdq_last_error_message(void); /* "" when the thread has none */

/* ---- context ---------------------------------------------------------- */
SVDQ_API svdq_status svdq_context_options_init(svdq_context_options* options);
SVDQ_API svdq_status svdq_context_create(const svdq_context_options* options, svdq_context** out_context);
SVDQ_API svdq_status svdq_context_destroy(svdq_context* context);
SVDQ_API svdq_status svdq_context_get_info(const svdq_context* context, svdq_context_info* out_info);

/* ---- host tensors ----------------------------------------------------- */
/* A new zero-filled tensor that owns its memory. */
SVDQ_API svdq_status svdq_tensor_create(int32_t dtype, const int64_t* shape, int32_t ndim, svdq_tensor** out_tensor);
/* A tensor over caller memory (no copy); the memory must outlive the tensor. */
SVDQ_API svdq_status svdq_tensor_wrap(int32_t dtype, const int64_t* shape, int32_t ndim, void* data,
                                      uint64_t size_bytes, svdq_tensor** out_tensor);
SVDQ_API svdq_status svdq_tensor_destroy(svdq_tensor* tensor);
SVDQ_API svdq_status svdq_tensor_get_data(const svdq_tensor* tensor, void** out_data, uint64_t* out_size_bytes);
/* out_shape must hold SVDQ_MAX_DIMS values; entries past ndim are set to 0. */
SVDQ_API svdq_status svdq_tensor_get_shape(const svdq_tensor* tensor, int32_t* out_dtype, int32_t* out_ndim,
                                           int64_t* out_shape);

/* ---- linear layers ---------------------------------------------------- */
SVDQ_API svdq_status svdq_linear_create(svdq_context* context, const svdq_linear_desc* desc, svdq_linear** out_linear);
SVDQ_API svdq_status svdq_linear_destroy(svdq_linear* linear);
SVDQ_API svdq_status svdq_linear_get_info(const svdq_linear* linear, svdq_linear_info* out_info);
/* x: F32 [..., K]; y: F32 [..., N] with the same leading dimensions. */
SVDQ_API svdq_status svdq_linear_forward(svdq_context* context, const svdq_linear* linear, const svdq_tensor* x,
                                         svdq_tensor* y);

/* ---- quantizer building blocks ---------------------------------------- */
/* Smoothing factors lambda_j = max|X_j|^alpha / max|W_j|^beta from calibration
 * activations x [M, K] and weight [N, K]; writes F32 [K] into out_smooth. */
SVDQ_API svdq_status svdq_smooth_compute(svdq_context* context, const svdq_tensor* x, const svdq_tensor* weight,
                                         float alpha, float beta, svdq_tensor* out_smooth);
/* Rank-r truncated SVD of weight * smooth (smooth may be NULL): up = U S [N, r],
 * down = V^T [r, K], both F32 tensors the caller created with those shapes. */
SVDQ_API svdq_status svdq_lowrank_decompose(svdq_context* context, const svdq_tensor* weight,
                                            const svdq_tensor* smooth, int32_t rank, svdq_tensor* out_up,
                                            svdq_tensor* out_down);

#ifdef __cplusplus
}
#endif

#endif /* SVDQUANT_H */
