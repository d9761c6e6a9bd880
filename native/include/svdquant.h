/*
 * svdquant.h - the whole C API of the SvdQuant engine.
 *
 * Rules (see docs/architecture.md):
 *  - Fallible functions return svdq_status; results go through out-pointers.
 *    svdq_last_error_message() describes the calling thread's last failure.
 *  - Handles are opaque; each has one *_destroy that accepts NULL.
 *  - Only blittable types cross: fixed-width integers, float, pointers and
 *    plain structs whose first field is struct_size = sizeof the struct the
 *    caller was compiled with: a smaller one from an older header works
 *    (fields past it take their defaults, or are not written), a larger
 *    one is refused. Enum values travel as
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
    SVDQ_ABI_VERSION = 5,     /* bumped on any breaking change of this header */
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
    SVDQ_DTYPE_I64 = 6,
    SVDQ_DTYPE_F64 = 7,
    SVDQ_DTYPE_I16 = 8,
    SVDQ_DTYPE_BOOL = 9,     /* one byte, 0 or 1 */
    SVDQ_DTYPE_F8_E4M3 = 10, /* FP8 E4M3 (no infinities, 0x7f/0xff are NaN), as in NVFP4 scales */
    SVDQ_DTYPE_F8_E5M2 = 11  /* FP8 E5M2 (IEEE-like) */
} svdq_dtype;

/* Where a context runs. CUDA runs in libsvdquant_cuda, a library of its own
 * beside libsvdquant, loaded when a context first asks for it; AUTO takes
 * CUDA when that library, a driver and a supported GPU are all there, else
 * the CPU (svdq_context_get_info says which). */
typedef enum svdq_backend {
    SVDQ_BACKEND_CPU = 0,
    SVDQ_BACKEND_CUDA = 1,
    SVDQ_BACKEND_AUTO = 2
} svdq_backend;

/* CPU kernel level. AUTO picks the best the CPU supports; a lower value caps
 * it (tests use this to cover every path on one machine). The environment
 * variable SVDQ_CPU_LEVEL=scalar|avx2|avx512_vnni|avx512_bf16 caps it the same way. */
typedef enum svdq_cpu_level {
    SVDQ_CPU_AUTO = 0,
    SVDQ_CPU_SCALAR = 1,
    SVDQ_CPU_AVX2 = 2,
    SVDQ_CPU_AVX512_VNNI = 3,
    SVDQ_CPU_AVX512_BF16 = 4
} svdq_cpu_level;

typedef enum svdq_log_level {
    SVDQ_LOG_DEBUG = 0,
    SVDQ_LOG_INFO = 1,
    SVDQ_LOG_WARNING = 2,
    SVDQ_LOG_ERROR = 3
} svdq_log_level;

/* How a linear layer computes: which of its operands are 4-bit. */
typedef enum svdq_linear_scheme {
    SVDQ_SCHEME_FLOAT = 0, /* fp32 weights and activations; format FLOAT */
    SVDQ_SCHEME_W4A16 = 1, /* 4-bit weights, float activations; format INT4 (AWQ-style) */
    SVDQ_SCHEME_W4A4 = 2   /* 4-bit weights and activations, optional smoothing and low-rank branch;
                              format INT4 or NVFP4 */
} svdq_linear_scheme;

/* The number format of a layer's values, and of a checkpoint's quantized
 * layers. Any other pairing with a scheme than those listed above is
 * refused by name (SVDQ_ERROR_UNSUPPORTED), never run in another format. */
typedef enum svdq_number_format {
    SVDQ_FORMAT_FLOAT = 0, /* fp32 (a checkpoint: no 4-bit layers) */
    SVDQ_FORMAT_INT4 = 1,  /* signed INT4, groups of 64 along K, scale absmax / 7 */
    SVDQ_FORMAT_NVFP4 = 2  /* E2M1, groups of 16, FP8 E4M3 group scales, fp32 tensor scale
                              (activations: one tensor scale per token); float emulation on CPU */
} svdq_number_format;

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

/* How a FLUX transformer's attention rounds its inputs. BF16 rounds q, k, v
 * and the softmax probabilities to BF16 for BF16 dot products (AVX512_BF16),
 * keeping the softmax and every sum in fp32, as GPU engines run FLUX; CPU
 * levels without BF16 dot products compute it in fp32. The CUDA backend
 * stages q, k and v in BF16 at either precision. */
typedef enum svdq_attention_precision {
    SVDQ_ATTENTION_AUTO = 0, /* BF16 when the block linears are 4-bit (W4A4, W4A16), else FP32 */
    SVDQ_ATTENTION_FP32 = 1,
    SVDQ_ATTENTION_BF16 = 2
} svdq_attention_precision;

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
    int32_t device;           /* the GPU's ordinal for CUDA (0: the first); 0 for the CPU */
} svdq_context_options;

typedef struct svdq_context_info {
    uint32_t struct_size; /* sizeof(svdq_context_info) */
    int32_t backend;      /* svdq_backend */
    int32_t num_threads;
    int32_t cpu_level;    /* the level actually used, never AUTO */
    int32_t device;       /* the GPU's ordinal (CUDA); 0 for the CPU */
} svdq_context_info;

/* One device a backend can run on. */
typedef struct svdq_device_info {
    uint32_t struct_size;        /* sizeof(svdq_device_info) */
    int32_t backend;             /* svdq_backend, never AUTO */
    int32_t ordinal;
    int32_t compute_capability;  /* CUDA: major * 10 + minor (89: Ada); 0 for the CPU */
    int32_t multiprocessors;     /* CUDA: streaming multiprocessors; CPU: logical cores */
    uint64_t total_memory_bytes; /* CUDA: device memory; 0 for the CPU */
    uint64_t free_memory_bytes;  /* CUDA: free when asked; 0 for the CPU */
    char name[256];              /* "NVIDIA H100 80GB HBM3", or the CPU's kernel level */
} svdq_device_info;

/* Describes a linear layer Y = X W^T + bias. For SVDQ_SCHEME_W4A4, `smooth`
 * (lambda, [K]) divides the activations and multiplies the weights, and the
 * low-rank branch L1 L2 (up [N, r], down [r, K], a factorisation of the
 * smoothed weight W * lambda) is kept in float while only the residual
 * W * lambda - L1 L2 is quantized. Both are optional: none gives naive
 * round-to-nearest W4A4, smooth alone SmoothQuant, both SVDQuant.
 * Weight-like tensors may be F32, F16 or BF16. */
typedef struct svdq_linear_desc {
    uint32_t struct_size;             /* sizeof(svdq_linear_desc) */
    int32_t scheme;                   /* svdq_linear_scheme */
    int32_t activation;               /* svdq_activation */
    const svdq_tensor* weight;        /* [N, K] */
    const svdq_tensor* bias;          /* [N] or NULL */
    const svdq_tensor* smooth;        /* [K] positive, or NULL (W4A4 only) */
    const svdq_tensor* lowrank_up;    /* [N, r] or NULL (W4A4 only, with lowrank_down) */
    const svdq_tensor* lowrank_down;  /* [r, K] or NULL */
    int32_t branch_execution;         /* svdq_branch_execution */
    int32_t format;                   /* svdq_number_format, paired with the scheme as that enum says
                                         (a struct too small to hold it: FLOAT or INT4 by scheme);
                                         K must be a multiple of its group */
} svdq_linear_desc;

typedef struct svdq_linear_info {
    uint32_t struct_size; /* sizeof(svdq_linear_info) */
    int32_t scheme;       /* svdq_linear_scheme */
    int32_t activation;   /* svdq_activation */
    int32_t rank;         /* 0 without a low-rank branch */
    int32_t has_bias;
    int32_t has_smooth;
    int32_t branch_execution; /* svdq_branch_execution */
    int64_t in_features;  /* K */
    int64_t out_features; /* N */
    uint64_t weight_bytes; /* bytes the layer's parameters occupy in memory */
    int32_t format;       /* svdq_number_format (FLOAT for a float layer) */
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

/* ---- devices ---------------------------------------------------------- */
/* How many devices `backend` can run on here (CPU: 1; AUTO: not taken). When
 * it can run on none, SVDQ_ERROR_UNSUPPORTED with the reason: libsvdquant_cuda
 * not shipped or not loadable, no NVIDIA driver, no GPU, no GPU of a
 * supported architecture (sm_75 or newer). */
SVDQ_API svdq_status svdq_backend_device_count(int32_t backend, int32_t* out_count);
SVDQ_API svdq_status svdq_backend_device_info(int32_t backend, int32_t ordinal, svdq_device_info* out_info);

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
/* Extra low-rank terms on a layer (LoRA): y = layer(x) + sum_i scale_i * (x down_i^T) up_i^T,
 * added before the layer's activation. down_i: F32 [r_i, K], up_i: F32 [N, r_i],
 * any r_i >= 1. A W4A4 layer with a fused branch runs them inside its branch
 * (down and up concatenated along the rank, stored as BF16 like the branch,
 * the rank padded to the kernel's multiple); other layers run them as an
 * unfused float branch. The set replaces the previous one as a whole; count 0
 * (or every scale 0) restores the layer's outputs bit for bit. Nothing
 * changes on failure. Not while the layer runs a forward on another thread. */
typedef struct svdq_low_rank_update {
    uint32_t struct_size;     /* sizeof(svdq_low_rank_update) */
    const svdq_tensor* down;  /* F32 [r, K]: reads the layer's raw (unsmoothed) input */
    const svdq_tensor* up;    /* F32 [N, r] */
    float scale;              /* e.g. strength * alpha / r */
} svdq_low_rank_update;

SVDQ_API svdq_status svdq_linear_set_low_rank_updates(svdq_context* context, svdq_linear* linear,
                                                      const svdq_low_rank_update* updates, int32_t count);

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

/* ---- quantizer ---------------------------------------------------------- */
/* DESIGN.md section 3: smoothing lambda_j = max|X_j|^alpha / max|W_j|^beta
 * with (alpha, beta) searched on a grid, each candidate scored by the
 * layers' output error on calibration activations with the low-rank branch
 * included; then the rank-r SVD of the smoothed weight and the 4-bit
 * residual. The methods are the paper's ablation, all from one entry point. */
typedef enum svdq_quant_method {
    SVDQ_QUANT_RTN = 0,         /* W4A4, no smoothing, no branch */
    SVDQ_QUANT_SMOOTHQUANT = 1, /* W4A4 with searched smoothing, no branch */
    SVDQ_QUANT_LOWRANK = 2,     /* W4A4 with the low-rank branch, no smoothing */
    SVDQ_QUANT_SVDQUANT = 3,    /* W4A4 with searched smoothing and the branch */
    SVDQ_QUANT_W4A16 = 4        /* 4-bit weights, float activations */
} svdq_quant_method;

/* How (alpha, beta) is chosen. */
typedef enum svdq_smooth_search {
    SVDQ_SEARCH_COARSE_TO_FINE = 0, /* every 4th grid step, then a pattern search on the full grid */
    SVDQ_SEARCH_EXHAUSTIVE = 1,     /* every (alpha, beta) of the grid */
    SVDQ_SEARCH_FIXED = 2           /* the options' alpha and beta, no search */
} svdq_smooth_search;

typedef struct svdq_quantize_options {
    uint32_t struct_size;      /* sizeof(svdq_quantize_options) */
    int32_t method;            /* svdq_quant_method; default SVDQUANT */
    int32_t format;            /* svdq_number_format: INT4 (default) or NVFP4 */
    int32_t rank;              /* low-rank branch rank, a positive multiple of 16; default 32 */
    int32_t search;            /* svdq_smooth_search; default COARSE_TO_FINE */
    int32_t grid_steps;        /* alpha, beta in {0, 1/steps, ..., 1}; default 20 (step 0.05) */
    float alpha;               /* used by SVDQ_SEARCH_FIXED; default 0.5 */
    float beta;                /* default 0.5 */
    int32_t refine_iterations; /* most rounds of L = SVD_r(W - Q(W - L)), kept while the error falls; default 0 */
    int32_t score_tokens;      /* calibration tokens that score a candidate; default 64 */
    int32_t score_rows;        /* output channels per layer that score a candidate; default 128 */
    int32_t activation;        /* svdq_activation of the created layers */
    int32_t branch_execution;  /* svdq_branch_execution of the created layers */
} svdq_quantize_options;

typedef struct svdq_quantize_report {
    uint32_t struct_size;      /* sizeof(svdq_quantize_report) */
    float alpha;               /* chosen exponents (0, 0 without smoothing) */
    float beta;
    int32_t candidates;        /* (alpha, beta) pairs scored */
    int32_t refine_rounds;     /* refinement rounds kept */
    float calibration_error;   /* ||Y - Y_float||_F / ||Y_float||_F of the created layers on the scoring tokens */
    double search_seconds;     /* grid search */
    double svd_seconds;        /* final low-rank SVDs and refinement */
    double packing_seconds;    /* residual quantization and kernel packing */
} svdq_quantize_report;

SVDQ_API svdq_status svdq_quantize_options_init(svdq_quantize_options* options);
/* Quantizes `count` layers that read the same input (e.g. Q, K and V), which
 * share one lambda: weights[i] [N_i, K] (F32, F16 or BF16), biases NULL or
 * an array whose entries may be NULL, calibration [M, K] (required by the
 * smoothing methods, optional otherwise). Writes count new layers to
 * out_linears (all or none), lambda [K] F32 to out_smooth when not NULL
 * (ones without smoothing), the branch of layer i to out_ups[i] [N_i, r]
 * and out_downs[i] [r, K] (F32 tensors the caller created; a factorisation
 * of W_i * lambda as in svdq_linear_desc) when those arrays are not NULL and
 * the method has a branch, and the report when out_report is not NULL. */
SVDQ_API svdq_status svdq_quantize_linears(svdq_context* context, const svdq_quantize_options* options,
                                           const svdq_tensor* calibration, const svdq_tensor* const* weights,
                                           const svdq_tensor* const* biases, int32_t count, svdq_linear* out_linears[],
                                           svdq_tensor* out_smooth, svdq_tensor* const* out_ups,
                                           svdq_tensor* const* out_downs, svdq_quantize_report* out_report);

/* ---- quantized layer files ------------------------------------------- */
/* Quantizes the layer in `input_path` (safetensors with `weight` [N, K],
 * optional `bias` [N] and `calib` [M, K], F32/F16/BF16; `calib` is needed by
 * the methods that smooth) and writes it to `output_path` as one Nunchaku-
 * style layer, tensors under "layer.": the W4A4 methods in INT4 or NVFP4 as
 * Nunchaku's SVDQuant layers (with quantization_config metadata), w4a16 as
 * its AWQ layers (qweight I32, wscales, wzeros; INT4 only: NVFP4 gives
 * SVDQ_ERROR_UNSUPPORTED before any work). Errors name the file and tensor;
 * a failure leaves no file at output_path. out_report may be NULL. */
SVDQ_API svdq_status svdq_layer_quantize_file(svdq_context* context, const svdq_quantize_options* options,
                                              const char* input_path, const char* output_path,
                                              svdq_quantize_report* out_report);
/* Loads a layer written by svdq_layer_quantize_file, its 4-bit values as
 * stored (never quantized again); also AWQ layers with any zero points. */
SVDQ_API svdq_status svdq_linear_load(svdq_context* context, const char* path, svdq_linear** out_linear);

/* ---- checkpoint files (safetensors) ----------------------------------- */
/* A safetensors file opened read-only and memory-mapped. Its header is
 * validated completely at open (length, JSON, dtypes, shapes, offsets in
 * order, inside the data area, without gaps or overlaps); tensor data is
 * never copied. Names, metadata strings and data pointers stay valid until
 * the file is destroyed. Tensors are listed in name order. */
typedef struct svdq_safetensors svdq_safetensors;
/* Collects tensors and metadata, then writes one safetensors file (sorted
 * keys, header padded to 8 bytes, every tensor aligned to its element size). */
typedef struct svdq_safetensors_writer svdq_safetensors_writer;
/* Writes one safetensors file without holding its tensors, for files larger
 * than memory: each tensor's bytes go at once to a temporary beside the
 * target, and finishing writes the file (byte for byte what
 * svdq_safetensors_writer_save writes for the same tensors and metadata) and
 * renames it into place. Memory: the tensor table; disk: twice the data
 * while finishing. */
typedef struct svdq_safetensors_stream_writer svdq_safetensors_stream_writer;

/* What a checkpoint file holds, from its keys, dtypes and metadata. */
typedef enum svdq_checkpoint_flavour {
    SVDQ_FLAVOUR_UNKNOWN = 0,                 /* a valid safetensors file of no known layout */
    SVDQ_FLAVOUR_DIFFUSERS_FLOAT = 1,         /* diffusers FLUX names, float weights (a shard is fine) */
    SVDQ_FLAVOUR_NUNCHAKU_INT4_V0 = 2,        /* Nunchaku FLUX v0 names: qkv_proj, mlp_fc1, lora_down, smooth */
    SVDQ_FLAVOUR_NUNCHAKU_NVFP4_V0 = 3,
    SVDQ_FLAVOUR_NUNCHAKU_INT4_DIFFUSERS = 4, /* Nunchaku diffusers-style names: attn.to_qkv, proj_down, smooth_factor */
    SVDQ_FLAVOUR_NUNCHAKU_NVFP4_DIFFUSERS = 5,
    SVDQ_FLAVOUR_SVDQUANT = 6                 /* written by this engine: Nunchaku layout, marked in the metadata */
} svdq_checkpoint_flavour;

/* How a Nunchaku checkpoint names its layers and their tensors. */
typedef enum svdq_checkpoint_keys {
    SVDQ_KEYS_NONE = 0,
    SVDQ_KEYS_NUNCHAKU_V0 = 1, /* lora_down / lora_up / smooth */
    SVDQ_KEYS_DIFFUSERS = 2    /* proj_down / proj_up / smooth_factor */
} svdq_checkpoint_keys;

typedef struct svdq_safetensors_info {
    uint32_t struct_size;    /* sizeof(svdq_safetensors_info) */
    int64_t tensor_count;
    int64_t metadata_count;  /* entries of __metadata__ */
    uint64_t file_bytes;
    uint64_t data_offset;    /* where tensor data starts: 8 + header length */
} svdq_safetensors_info;

typedef struct svdq_safetensors_tensor {
    uint32_t struct_size;     /* sizeof(svdq_safetensors_tensor) */
    int32_t dtype;            /* svdq_dtype */
    const char* name;         /* UTF-8, valid while the file is open */
    int32_t ndim;
    int64_t shape[SVDQ_MAX_DIMS]; /* entries past ndim are 0 */
    uint64_t size_bytes;
    const void* data;         /* read-only mapped bytes (not necessarily aligned), valid while the file is open */
} svdq_safetensors_tensor;

typedef struct svdq_checkpoint_info {
    uint32_t struct_size;      /* sizeof(svdq_checkpoint_info) */
    int32_t flavour;           /* svdq_checkpoint_flavour */
    int32_t format;            /* svdq_number_format of its quantized layers; FLOAT when it has none */
    int32_t keys;              /* svdq_checkpoint_keys */
    int64_t w4a4_layers;       /* SVDQuant layers (qweight int8 + scales + low-rank branch) */
    int64_t w4a16_layers;      /* AWQ-style layers (qweight int32 + wscales + wzeros) */
    int64_t rank;              /* largest low-rank branch rank as stored (padded to 16); 0 without */
    uint64_t parameter_count;  /* values stored; packed 4-bit weights count one per nibble */
} svdq_checkpoint_info;

SVDQ_API svdq_status svdq_safetensors_open(const char* path, svdq_safetensors** out_file);
SVDQ_API svdq_status svdq_safetensors_destroy(svdq_safetensors* file);
SVDQ_API svdq_status svdq_safetensors_get_info(const svdq_safetensors* file, svdq_safetensors_info* out_info);
/* Metadata entry 0 <= index < metadata_count, in key order. */
SVDQ_API svdq_status svdq_safetensors_get_metadata(const svdq_safetensors* file, int64_t index, const char** out_key,
                                                   const char** out_value);
/* Tensor 0 <= index < tensor_count, in name order. */
SVDQ_API svdq_status svdq_safetensors_get_tensor(const svdq_safetensors* file, int64_t index,
                                                 svdq_safetensors_tensor* out_tensor);
/* The index of the tensor called `name`, or -1 when the file has none. */
SVDQ_API svdq_status svdq_safetensors_find_tensor(const svdq_safetensors* file, const char* name, int64_t* out_index);
/* Converts a float tensor (F32, F16, BF16, F64, F8_E4M3, F8_E5M2) to F32;
 * `count` must equal its element count. */
SVDQ_API svdq_status svdq_safetensors_read_f32(const svdq_safetensors* file, int64_t index, float* out_values,
                                               uint64_t count);
/* Detects the flavour and checks that each layer it implies is complete and
 * consistent: a missing or misshapen tensor is SVDQ_ERROR_FORMAT naming it. */
SVDQ_API svdq_status svdq_checkpoint_inspect(const svdq_safetensors* file, svdq_checkpoint_info* out_info);

SVDQ_API svdq_status svdq_safetensors_writer_create(svdq_safetensors_writer** out_writer);
SVDQ_API svdq_status svdq_safetensors_writer_destroy(svdq_safetensors_writer* writer);
/* Sets (or replaces) a __metadata__ entry. */
SVDQ_API svdq_status svdq_safetensors_writer_set_metadata(svdq_safetensors_writer* writer, const char* key,
                                                          const char* value);
/* Copies the tensor's bytes; size_bytes must match dtype and shape. Names are unique. */
SVDQ_API svdq_status svdq_safetensors_writer_add_tensor(svdq_safetensors_writer* writer, const char* name,
                                                        int32_t dtype, const int64_t* shape, int32_t ndim,
                                                        const void* data, uint64_t size_bytes);
/* Writes the file (through a temporary file renamed into place, so a failure
 * never leaves a partial file at `path`). The writer may be saved again.
 * SVDQ_ERROR_IO when `path` is a symlink, a directory, a device or a pipe,
 * or a file this process has open as an input; a replaced file keeps its
 * permissions. This holds for every file the library writes. */
SVDQ_API svdq_status svdq_safetensors_writer_save(const svdq_safetensors_writer* writer, const char* path);
/* *out_same = 1 when a and b name one existing file (the same device and
 * inode, through symlinks and hard links), else 0; always 0 on Windows. For
 * hosts that refuse to write an output over one of their inputs. */
SVDQ_API svdq_status svdq_path_same_file(const char* a, const char* b, int32_t* out_same);
/* Starts writing `path`: SVDQ_ERROR_IO when its folder cannot be written.
 * Destroying an unfinished writer removes its temporaries and leaves `path`
 * as it was. */
SVDQ_API svdq_status svdq_safetensors_stream_writer_create(const char* path, svdq_safetensors_stream_writer** out_writer);
SVDQ_API svdq_status svdq_safetensors_stream_writer_destroy(svdq_safetensors_stream_writer* writer);
/* Sets (or replaces) a __metadata__ entry; any time before finishing. */
SVDQ_API svdq_status svdq_safetensors_stream_writer_set_metadata(svdq_safetensors_stream_writer* writer,
                                                                 const char* key, const char* value);
/* Checks the tensor as svdq_safetensors_writer_add_tensor does and writes its
 * bytes to the temporary; `data` may be reused as soon as this returns. */
SVDQ_API svdq_status svdq_safetensors_stream_writer_add_tensor(svdq_safetensors_stream_writer* writer,
                                                               const char* name, int32_t dtype, const int64_t* shape,
                                                               int32_t ndim, const void* data, uint64_t size_bytes);
/* Writes the file and renames it into place (the refusals of
 * svdq_safetensors_writer_save); once only: adding or finishing again is
 * SVDQ_ERROR_INVALID_ARGUMENT. A failure leaves neither file nor temporaries. */
SVDQ_API svdq_status svdq_safetensors_stream_writer_finish(svdq_safetensors_stream_writer* writer);
/* Writes size_bytes bytes (data may be NULL when 0) to `path` as the library
 * writes every file: a temporary beside it renamed into place, the same
 * refusals as svdq_safetensors_writer_save. For hosts writing their own
 * formats (e.g. a PNG) with the same guarantees. */
SVDQ_API svdq_status svdq_file_write(const char* path, const void* data, uint64_t size_bytes);
/* Whether a file could be written to `path` now, as svdq_file_write writes
 * it: its refusals, and its folder must exist and take a new file (a
 * temporary is created there and removed). Leaves `path` as it was. For hosts
 * that check their outputs before long work rather than fail after it. */
SVDQ_API svdq_status svdq_file_check_writable(const char* path);

/* ---- FLUX.1 transformer ----------------------------------------------- */
/* diffusers' FluxTransformer2DModel. Embedders, norm_out and proj_out stay
 * float; the transformer-block linears run in `scheme`. */
typedef struct svdq_flux svdq_flux;

typedef struct svdq_flux_load_options {
    uint32_t struct_size; /* sizeof(svdq_flux_load_options) */
    int32_t scheme;  /* svdq_linear_scheme of the transformer-block linears */
    int32_t attention_precision; /* svdq_attention_precision; default AUTO */
} svdq_flux_load_options;

typedef struct svdq_flux_info {
    uint32_t struct_size; /* sizeof(svdq_flux_info) */
    int32_t scheme;
    int32_t num_layers;
    int32_t num_single_layers;
    int32_t num_attention_heads;
    int32_t attention_head_dim;
    int32_t in_channels;
    int32_t out_channels;
    int32_t patch_size;
    int32_t joint_attention_dim;
    int32_t pooled_projection_dim;
    int32_t guidance_embeds;
    int64_t parameter_count; /* parameters of the float model */
    uint64_t weight_bytes;   /* bytes the loaded parameters occupy in memory */
    int32_t format;          /* svdq_number_format of the transformer-block linears */
    int32_t attention_precision; /* FP32 or BF16: the load option with AUTO resolved */
} svdq_flux_info;

/* The inputs of one forward, all F32, as diffusers' FluxPipeline passes them. */
typedef struct svdq_flux_inputs {
    uint32_t struct_size;                       /* sizeof(svdq_flux_inputs) */
    const svdq_tensor* hidden_states;           /* [B, S_img, in_channels] (packed latents) */
    const svdq_tensor* encoder_hidden_states;   /* [B, S_txt, joint_attention_dim] */
    const svdq_tensor* pooled_projections;      /* [B, pooled_projection_dim] */
    const svdq_tensor* timestep;                /* [B], t / 1000 */
    const svdq_tensor* guidance;                /* [B] raw scale; NULL unless guidance_embeds */
    const svdq_tensor* img_ids;                 /* [S_img, 3] */
    const svdq_tensor* txt_ids;                 /* [S_txt, 3] */
} svdq_flux_inputs;

SVDQ_API svdq_status svdq_flux_load_options_init(svdq_flux_load_options* options);
/* path: a diffusers folder (config.json + *.safetensors shards; block linears
 * in options->scheme), or one safetensors file with the diffusers config
 * in its __metadata__ "config": a Nunchaku SVDQ checkpoint (either key style)
 * or one svdq_flux_quantize wrote, whose 4-bit layers are used as stored.
 * options may be NULL. */
SVDQ_API svdq_status svdq_flux_load(svdq_context* context, const char* path, const svdq_flux_load_options* options,
                                    svdq_flux** out_model);
SVDQ_API svdq_status svdq_flux_destroy(svdq_flux* model);
SVDQ_API svdq_status svdq_flux_get_info(const svdq_flux* model, svdq_flux_info* out_info);
/* out: F32 [B, S_img, patch^2 * out_channels]. */
SVDQ_API svdq_status svdq_flux_forward(svdq_context* context, const svdq_flux* model, const svdq_flux_inputs* inputs,
                                       svdq_tensor* out);

/* ---- FLUX generation (latents) ---------------------------------------- */
/* Latents from a loaded FLUX transformer as diffusers' FluxPipeline makes
 * them, text-encoder outputs given: seeded noise (Philox4x32-10 Gaussian,
 * the same bits on every platform), the flow-matching schedule (the model's
 * scheduler/scheduler_config.json when found beside it, else FLUX.1-dev's
 * dynamic shift with a guidance embedding and none without), a sampler, the
 * embedded guidance (ignored, and reported, by models without one), true
 * classifier-free guidance with a negative conditioning, the first-block
 * cache, image-to-image from init latents at a strength and a latent-level
 * inpainting mask. Batch 1. A generator checks its options once and may run
 * many times; one thread at a time, like its context. */
typedef struct svdq_flux_generator svdq_flux_generator;

typedef struct svdq_generation_options {
    uint32_t struct_size;    /* sizeof(svdq_generation_options) */
    int32_t width;           /* pixels, rounded down to a multiple of 16 (at least 16); default 1024 */
    int32_t height;          /* default 1024 */
    int32_t steps;           /* default 28; ignored when sigmas are given */
    const char* sampler;     /* "euler" (default, also NULL), "heun", "dpmpp2m" or "euler_a" */
    uint64_t seed;           /* the initial noise and euler_a's; default 0 */
    float guidance;          /* embedded guidance scale; default 3.5 */
    float true_cfg;          /* true CFG scale; 1 (default) is off, > 1 needs a negative conditioning */
    float cache_threshold;   /* first-block cache; 0 (default) is off and bit-identical */
    float strength;          /* image-to-image share of the schedule run, [0, 1] (0: the init latents as they are); default 1 */
    float shift;             /* 0 (default): the model's schedule; > 0: this static shift instead */
    float eta;               /* euler_a's share of ancestral noise, [0, 1]; default 1 */
    const float* sigmas;     /* NULL, or sigma_count base sigmas (strictly decreasing, in (0, 1]) */
    int32_t sigma_count;
    /* NULL: scheduler/scheduler_config.json in the model's folder or beside it
     * (a pipeline's transformer/), else the defaults; otherwise this file, which
     * must exist (a pipeline folder's config for a transformer file kept elsewhere). */
    const char* scheduler_config;
} svdq_generation_options;

/* The text-encoder outputs and optional latents of one run, all F32. */
typedef struct svdq_generation_inputs {
    uint32_t struct_size;                                /* sizeof(svdq_generation_inputs) */
    const svdq_tensor* encoder_hidden_states;            /* [1, S_txt, joint_attention_dim] */
    const svdq_tensor* pooled_projections;               /* [1, pooled_projection_dim] */
    const svdq_tensor* negative_encoder_hidden_states;   /* NULL, or the negative prompt's, for true CFG */
    const svdq_tensor* negative_pooled_projections;      /* NULL, or with the above */
    const svdq_tensor* noise;         /* NULL, or [1, S_img, in_channels]: replaces the seeded noise */
    const svdq_tensor* init_latents;  /* NULL, or [1, S_img, in_channels]: image-to-image start */
    const svdq_tensor* mask;          /* NULL, or [1, S_img, in_channels] (1 repaints), with init_latents */
} svdq_generation_inputs;

typedef struct svdq_generation_step {
    uint32_t struct_size;   /* sizeof(svdq_generation_step) */
    int32_t step;           /* 1-based step just done */
    int32_t total;
    float sigma;            /* the sigma it arrived at */
    double elapsed_seconds;
} svdq_generation_step;

/* Return 0 to go on; anything else cancels (SVDQ_ERROR_CANCELLED); the
 * generator and model can run again after. */
typedef int32_t (*svdq_generation_progress_fn)(void* user_data, const svdq_generation_step* step);

typedef struct svdq_generation_report {
    uint32_t struct_size;      /* sizeof(svdq_generation_report) */
    int32_t steps;
    int32_t evaluations;       /* transformer forwards */
    int32_t cached;            /* of them, cut short by the first-block cache */
    int32_t guidance_ignored;  /* 1: the model has no guidance embedding */
    int32_t latent_channels;   /* C of the [C, H/8, W/8] latents (in_channels / 4) */
    int32_t latent_height;     /* H/8 */
    int32_t latent_width;      /* W/8 */
    double seconds;
} svdq_generation_report;

SVDQ_API svdq_status svdq_generation_options_init(svdq_generation_options* options);
/* Checks the options against the model (size, sampler, schedule) and reads
 * its scheduler config. The model must outlive the generator. */
SVDQ_API svdq_status svdq_flux_generator_create(const svdq_flux* model, const svdq_generation_options* options,
                                                svdq_flux_generator** out_generator);
SVDQ_API svdq_status svdq_flux_generator_destroy(svdq_flux_generator* generator);
/* The shape of the latents a run writes: out_shape = {1, S_img, in_channels}. */
SVDQ_API svdq_status svdq_flux_generator_get_latent_shape(const svdq_flux_generator* generator, int64_t out_shape[3]);
/* Runs the sampler and writes the final packed latents (before unpacking)
 * into out_latents, F32 of the latent shape. progress and out_report may be
 * NULL. Inputs are checked first, naming the one that is wrong. */
SVDQ_API svdq_status svdq_flux_generator_run(svdq_context* context, svdq_flux_generator* generator,
                                             const svdq_generation_inputs* inputs, svdq_tensor* out_latents,
                                             svdq_generation_progress_fn progress, void* progress_user,
                                             svdq_generation_report* out_report);

/* Packs a latent image [1, C, h, w] (F32, h and w even) into the transformer's
 * tokens [1, (h / 2) * (w / 2), 4C] as diffusers' _pack_latents does: token
 * (r, c) = r * (w / 2) + c holds feature ch * 4 + dy * 2 + dx = latents[ch,
 * 2r + dy, 2c + dx]. For init latents and inpainting masks of a run. */
SVDQ_API svdq_status svdq_flux_latents_pack(const svdq_tensor* latents, svdq_tensor* out_packed);

/* An RGB preview of packed latents without the VAE, as ComfyUI's Latent2RGB
 * previewer draws it: 16 channels (FLUX.1) through ComfyUI's published
 * latent-to-RGB factors and bias (class Flux in comfy/latent_formats.py);
 * other channel counts show channels 0, 1, 2 as R, G, B, each stretched by
 * its own finite min and max. Values map to bytes as ComfyUI does: clamp to
 * [-1, 1], (v + 1) * 127.5, round half to even; NaN is 0; alpha 255.
 * packed_latents: F32 [1, S_img, 4C] as svdq_flux_generator_run writes them,
 * of a latent_height x latent_width latent image (both even, the report's
 * latent_height and latent_width), so S_img = (latent_height / 2) *
 * (latent_width / 2). upscale in [1, 8] repeats each latent pixel upscale x
 * upscale times (8: the image's own size). out_rgba receives row-major RGBA8,
 * top row first: out_bytes must be exactly
 * (latent_width * upscale) * (latent_height * upscale) * 4. */
SVDQ_API svdq_status svdq_flux_latents_preview(const svdq_tensor* packed_latents, int32_t latent_height,
                                               int32_t latent_width, int32_t upscale, uint8_t* out_rgba,
                                               uint64_t out_bytes);

/* ---- VAE (diffusers' AutoencoderKL) ------------------------------------ */
/* The image autoencoder of a diffusion pipeline as diffusers computes it
 * (FLUX.1's: 16 latent channels, block_out_channels [128, 256, 512, 512], no
 * quant convs; any config of the class). Images and latents are F32 in
 * diffusers' NCHW layout. svdq_vae_decode and svdq_vae_encode are raw, as
 * vae.decode and vae.encode(...).latent_dist: no scaling; the svdq_flux_*
 * functions below add what FluxPipeline does around them. A VAE is
 * immutable after loading; each call takes a context (one call at a time). */
typedef struct svdq_vae svdq_vae;

/* When an image runs in overlapping tiles blended as diffusers'
 * enable_tiling blends them (memory then depends on the tile, not the image;
 * the result differs from one pass only near tile seams). */
typedef enum svdq_vae_tiling {
    SVDQ_VAE_TILING_AUTO = 0,   /* tiles only for an image with a side above the default tile (the config's
                                   sample_size, at most 1024 pixels: FLUX.1 tiles above 1024), of tile_sample_size */
    SVDQ_VAE_TILING_ALWAYS = 1, /* tiles for any image with a side above tile_sample_size (diffusers' enable_tiling) */
    SVDQ_VAE_TILING_NEVER = 2   /* one pass over the whole image (diffusers' default; memory grows with the image) */
} svdq_vae_tiling;

typedef struct svdq_vae_options {
    uint32_t struct_size;     /* sizeof(svdq_vae_options) */
    int32_t tiling;           /* svdq_vae_tiling; default AUTO */
    int32_t tile_sample_size; /* tile side in image pixels, a positive multiple of 4 x the downscale (32 for
                                 FLUX.1); 0 (default): the config's sample_size, at most 1024 */
} svdq_vae_options;

typedef struct svdq_vae_info {
    uint32_t struct_size;    /* sizeof(svdq_vae_info) */
    int32_t in_channels;     /* image channels the encoder takes (3) */
    int32_t out_channels;    /* image channels the decoder makes (3) */
    int32_t latent_channels; /* 16 for FLUX.1 */
    int32_t downscale;       /* image side / latent side: 2^(blocks - 1), 8 for FLUX.1 */
    int32_t sample_size;     /* the config's sample_size (diffusers' tile) */
    double scaling_factor;   /* FluxPipeline: vae.decode(latents / scaling_factor + shift_factor) */
    double shift_factor;     /* 0 when the config has none */
    int64_t parameter_count;
    uint64_t weight_bytes;   /* fp32 bytes of the parameters, 4 x parameter_count: an upper bound of what they
                                occupy (a layer whose weights are all BF16 values keeps them in BF16) */
} svdq_vae_info;

SVDQ_API svdq_status svdq_vae_options_init(svdq_vae_options* options);
/* path: a VAE folder (config.json + diffusion_pytorch_model.safetensors, F32,
 * F16 or BF16) or a pipeline folder with vae/ (a FLUX.1 folder as published).
 * Every tensor is checked against the config and none may be left unused. */
SVDQ_API svdq_status svdq_vae_load(svdq_context* context, const char* path, svdq_vae** out_vae);
SVDQ_API svdq_status svdq_vae_destroy(svdq_vae* vae);
SVDQ_API svdq_status svdq_vae_get_info(const svdq_vae* vae, svdq_vae_info* out_info);
/* vae.decode(latents): latents F32 [B, latent_channels, h, w] (finite) ->
 * out_image F32 [B, out_channels, downscale h, downscale w]. options may be NULL. */
SVDQ_API svdq_status svdq_vae_decode(svdq_context* context, const svdq_vae* vae, const svdq_vae_options* options,
                                     const svdq_tensor* latents, svdq_tensor* out_image);
/* vae.encode(image).latent_dist: image F32 [B, in_channels, H, W] (finite; H
 * and W multiples of the downscale) -> out_mean and out_logvar F32
 * [B, latent_channels, H / downscale, W / downscale], logvar clamped to
 * [-30, 20] as DiagonalGaussianDistribution clamps it. options may be NULL. */
SVDQ_API svdq_status svdq_vae_encode(svdq_context* context, const svdq_vae* vae, const svdq_vae_options* options,
                                     const svdq_tensor* image, svdq_tensor* out_mean, svdq_tensor* out_logvar);

/* FluxPipeline's decode of the generator's packed latents: packed_latents
 * F32 [1, S_img, 4C] of a latent_height x latent_width latent image (both
 * even; S_img = (latent_height / 2) * (latent_width / 2); C the VAE's latent
 * channels), as svdq_flux_generator_run writes them, are unpacked,
 * z = latents / scaling_factor + shift_factor, and decoded into out_image
 * F32 [1, out_channels, downscale * latent_height, downscale * latent_width]
 * (about [-1, 1]; svdq_image_to_rgba8 makes the picture). */
SVDQ_API svdq_status svdq_flux_latents_decode(svdq_context* context, const svdq_vae* vae, const svdq_vae_options* options,
                                              const svdq_tensor* packed_latents, int32_t latent_height, int32_t latent_width,
                                              svdq_tensor* out_image);
/* Image-to-image's start: image F32 [1, in_channels, H, W] with values in
 * [-1, 1] and H, W multiples of 2 x the downscale (16 for FLUX.1) is encoded,
 * z = the posterior's mode (its mean; sample = 0) or a sample mean +
 * exp(logvar / 2) * noise (sample = 1; the noise seeded by `seed`, the same
 * bits on every platform), latents = (z - shift_factor) * scaling_factor,
 * packed into out_packed_latents F32 [1, S_img, 4C]
 * (S_img = (H / 16) * (W / 16) for FLUX.1): a generator's init_latents. */
SVDQ_API svdq_status svdq_flux_image_encode(svdq_context* context, const svdq_vae* vae, const svdq_vae_options* options,
                                            const svdq_tensor* image, int32_t sample, uint64_t seed,
                                            svdq_tensor* out_packed_latents);
/* VaeImageProcessor.postprocess to 8 bits: image F32 [1, 3, H, W] ->
 * round(clamp(x / 2 + 0.5, 0, 1) * 255) (half to even) as row-major RGBA8,
 * top row first, alpha 255; a NaN or Inf is refused. out_bytes must be exactly H * W * 4. */
SVDQ_API svdq_status svdq_image_to_rgba8(const svdq_tensor* image, uint8_t* out_rgba, uint64_t out_bytes);

/* ---- models of any family --------------------------------------------- */
/* A model loaded by the class its config names (config.json's _class_name,
 * or a single file's __metadata__ "config" / "model_class"): today the FLUX
 * family (FluxTransformer2DModel, NunchakuFluxTransformer2dModel). Inputs
 * are passed by name; svdq_model_get_input lists them. */
typedef struct svdq_model svdq_model;

typedef struct svdq_model_load_options {
    uint32_t struct_size; /* sizeof(svdq_model_load_options) */
    int32_t scheme;  /* svdq_linear_scheme of the quantizable (block) linears built from float weights */
} svdq_model_load_options;

typedef struct svdq_model_info {
    uint32_t struct_size;    /* sizeof(svdq_model_info) */
    const char* family;      /* e.g. "flux"; valid while the model lives */
    const char* class_name;  /* the config's class name; valid while the model lives */
    int32_t scheme;     /* svdq_linear_scheme of the block linears (W4A4 for a quantized file) */
    int32_t input_count;
    int64_t parameter_count;
    uint64_t weight_bytes;   /* bytes the loaded parameters occupy in memory */
    int32_t format;          /* svdq_number_format of the block linears */
} svdq_model_info;

SVDQ_API svdq_status svdq_model_load_options_init(svdq_model_load_options* options);
/* options may be NULL. SVDQ_ERROR_UNSUPPORTED names a class no family takes. */
SVDQ_API svdq_status svdq_model_load(svdq_context* context, const char* path, const svdq_model_load_options* options,
                                     svdq_model** out_model);
SVDQ_API svdq_status svdq_model_destroy(svdq_model* model);
SVDQ_API svdq_status svdq_model_get_info(const svdq_model* model, svdq_model_info* out_info);
/* Input `index` (0 .. input_count - 1): its name (valid while the model
 * lives) and whether a forward requires it (1) or may omit it (0). */
SVDQ_API svdq_status svdq_model_get_input(const svdq_model* model, int32_t index, const char** out_name,
                                          int32_t* out_required);
/* The output shape for these inputs (every input checked): *out_ndim
 * dimensions written to out_shape, which holds SVDQ_MAX_DIMS. */
SVDQ_API svdq_status svdq_model_get_output_shape(const svdq_model* model, const char* const* names,
                                                 const svdq_tensor* const* tensors, int32_t count, int64_t* out_shape,
                                                 int32_t* out_ndim);
/* out: F32 of the output shape, written in place. */
SVDQ_API svdq_status svdq_model_forward(svdq_context* context, const svdq_model* model, const char* const* names,
                                        const svdq_tensor* const* tensors, int32_t count, svdq_tensor* out);

/* ---- text encoders (CLIP, T5) ----------------------------------------- */
/* transformers' CLIPTextModel (FLUX's text_encoder/, CLIP-L: its pooled
 * output is FLUX's pooled_projections) and T5EncoderModel v1.1 (FLUX's
 * text_encoder_2/, T5-XXL: its last hidden state is encoder_hidden_states).
 * path: a transformers folder (config.json plus model.safetensors, or the
 * shards its model.safetensors.index.json names; F32, F16 or BF16 weights,
 * 16-bit ones kept 16-bit), or a FLUX pipeline folder, whose text_encoder/
 * (CLIP) or text_encoder_2/ (T5) is then read. Missing or mis-shaped
 * tensors are named with the shape found and the shape the config needs.
 * Token ids are [B, L] I64 or I32 (both give the same bits); an id outside
 * the vocabulary is SVDQ_ERROR_INVALID_ARGUMENT naming it. */
typedef struct svdq_clip svdq_clip;
typedef struct svdq_t5 svdq_t5;

typedef struct svdq_clip_info {
    uint32_t struct_size;     /* sizeof(svdq_clip_info) */
    int32_t hidden_size;
    int32_t intermediate_size;
    int32_t num_hidden_layers;
    int32_t num_attention_heads;
    int32_t max_position_embeddings; /* the longest L a forward takes */
    int64_t vocab_size;
    int64_t eos_token_id;     /* 2 (CLIP-L's legacy config): the EOS is the largest id of a row */
    uint64_t weight_bytes;    /* bytes the loaded parameters occupy in memory */
} svdq_clip_info;

SVDQ_API svdq_status svdq_clip_load(svdq_context* context, const char* path, svdq_clip** out_clip);
SVDQ_API svdq_status svdq_clip_destroy(svdq_clip* clip);
SVDQ_API svdq_status svdq_clip_get_info(const svdq_clip* clip, svdq_clip_info* out_info);
/* ids [B, L], 1 <= L <= max_position_embeddings. out_last_hidden_state: NULL
 * or F32 [B, L, hidden_size]; out_pooled: NULL or F32 [B, hidden_size], the
 * final state at each row's EOS position as transformers picks it. At least
 * one of them is given. */
SVDQ_API svdq_status svdq_clip_forward(svdq_context* context, const svdq_clip* clip, const svdq_tensor* ids,
                                       svdq_tensor* out_last_hidden_state, svdq_tensor* out_pooled);

typedef struct svdq_t5_load_options {
    uint32_t struct_size; /* sizeof(svdq_t5_load_options) */
    int32_t scheme;       /* svdq_linear_scheme of the block linears: FLOAT (default) or W4A16 (INT4, quantized at load) */
} svdq_t5_load_options;

typedef struct svdq_t5_info {
    uint32_t struct_size; /* sizeof(svdq_t5_info) */
    int32_t d_model;
    int32_t d_kv;
    int32_t d_ff;
    int32_t num_layers;
    int32_t num_heads;
    int32_t scheme;       /* svdq_linear_scheme of the block linears */
    int64_t vocab_size;
    uint64_t weight_bytes; /* bytes the loaded parameters occupy in memory */
} svdq_t5_info;

SVDQ_API svdq_status svdq_t5_load_options_init(svdq_t5_load_options* options);
/* path: as above, or a 4-bit T5 file svdq_t5_save wrote. options may be NULL. */
SVDQ_API svdq_status svdq_t5_load(svdq_context* context, const char* path, const svdq_t5_load_options* options,
                                  svdq_t5** out_t5);
SVDQ_API svdq_status svdq_t5_destroy(svdq_t5* t5);
SVDQ_API svdq_status svdq_t5_get_info(const svdq_t5* t5, svdq_t5_info* out_info);
/* ids [B, L]; attention_mask NULL (every token attended to, as FLUX calls the
 * encoder) or [B, L] of the ids' dtype, 1 for a token and 0 for padding no
 * query attends to. out: F32 [B, L, d_model], the last hidden state. */
SVDQ_API svdq_status svdq_t5_forward(svdq_context* context, const svdq_t5* t5, const svdq_tensor* ids,
                                     const svdq_tensor* attention_mask, svdq_tensor* out);
/* Writes a W4A16 encoder as one safetensors file (config in its metadata)
 * that svdq_t5_load reads back bit for bit; atomically, as every output file. */
SVDQ_API svdq_status svdq_t5_save(const svdq_t5* t5, const char* path);

/* ---- LoRA -------------------------------------------------------------- */
/* A LoRA file as parsed, not yet matched to a model: diffusers/PEFT keys
 * (`[transformer.]<module>.lora_A.weight` / `lora_B.weight`, optional
 * `<module>.alpha`), kohya keys (`lora_unet_<module_with_underscores>.lora_down.weight`
 * / `lora_up.weight` / `.alpha`) or BFL keys (`double_blocks.<i>.img_attn.qkv.lora_A.weight`,
 * ...); F32, F16 or BF16 tensors. A module without alpha uses alpha = rank. */
typedef struct svdq_lora svdq_lora;

typedef enum svdq_lora_key_style {
    SVDQ_LORA_KEYS_DIFFUSERS = 0, /* diffusers / PEFT module names */
    SVDQ_LORA_KEYS_KOHYA = 1,     /* kohya's lora_unet_ / lora_transformer_ names */
    SVDQ_LORA_KEYS_BFL = 2        /* Black Forest Labs' original module names */
} svdq_lora_key_style;

typedef struct svdq_lora_info {
    uint32_t struct_size;        /* sizeof(svdq_lora_info) */
    int32_t key_style;           /* svdq_lora_key_style */
    int32_t module_count;        /* modules with a down and an up matrix */
    int32_t min_rank, max_rank;
    int32_t missing_alpha_count; /* modules whose alpha defaults to their rank */
    int32_t unused_key_count;    /* keys that belong to no module (svdq_lora_get_unused_key) */
    int32_t flux_module_count;   /* modules whose names are FLUX.1 transformer modules */
} svdq_lora_info;

typedef struct svdq_lora_module {
    uint32_t struct_size;        /* sizeof(svdq_lora_module) */
    const char* name;            /* the module's key prefix in the file; valid while the LoRA lives */
    int32_t rank;
    float alpha;                 /* the file's, or rank when it has none */
    int32_t alpha_given;         /* 1 when the file has the module's alpha */
    int64_t in_features;         /* down is [rank, in_features] */
    int64_t out_features;        /* up is [out_features, rank] */
    int32_t is_flux_module;      /* 1 when the name is a FLUX.1 transformer module */
} svdq_lora_module;

/* Reads and checks the whole file: a missing half of a pair, a rank that
 * differs between down and up, a dtype other than F32/F16/BF16, NaN or Inf
 * are SVDQ_ERROR_FORMAT / SHAPE_MISMATCH / DTYPE / NON_FINITE naming the key. */
SVDQ_API svdq_status svdq_lora_load(const char* path, svdq_lora** out_lora);
SVDQ_API svdq_status svdq_lora_destroy(svdq_lora* lora);
SVDQ_API svdq_status svdq_lora_get_info(const svdq_lora* lora, svdq_lora_info* out_info);
SVDQ_API svdq_status svdq_lora_get_module(const svdq_lora* lora, int32_t index, svdq_lora_module* out_module);
/* Key `index` (0 .. unused_key_count - 1); valid while the LoRA lives. */
SVDQ_API svdq_status svdq_lora_get_unused_key(const svdq_lora* lora, int32_t index, const char** out_key);

/* LoRAs on a loaded FLUX transformer, changed at run time without reloading:
 * on W4A4 block linears a LoRA joins the fused low-rank branch (down = [L2'; A],
 * up = [L1, s * alpha / r * B]); on float and W4A16 linears it runs as an
 * unfused branch. q/k/v LoRAs meet the fused qkv linear (down stacked, up
 * block-diagonal); BFL's fused single-block linear1 / linear2 and kohya's
 * fused qkv are split onto the linears that hold their rows or columns.
 * A change waits for forwards running on the model and blocks new ones until
 * it is done. Every call changes nothing on failure. */
typedef struct svdq_flux_lora_info {
    uint32_t struct_size;        /* sizeof(svdq_flux_lora_info) */
    int32_t id;                  /* as svdq_flux_lora_add returned it */
    const char* name;            /* as given to svdq_flux_lora_add; valid until the LoRA is removed */
    float strength;
    int32_t matched_modules;     /* modules of the file that reached a linear of the model */
    int32_t unmatched_key_count; /* keys that changed nothing (svdq_flux_lora_get_unmatched_key) */
    int32_t layer_count;         /* linears of the model the LoRA changes */
} svdq_flux_lora_info;

/* Matches `lora` onto the model and adds it at `strength`; the model keeps what
 * it needs, so `lora` may be destroyed afterwards. Keys that match nothing are
 * logged in one warning naming all of them (and listed by
 * svdq_flux_lora_get_unmatched_key); a module whose alpha defaults to its rank
 * is named in a warning. SVDQ_ERROR_SHAPE_MISMATCH names the key with the
 * expected and found shape; SVDQ_ERROR_FORMAT when nothing matches (a LoRA for
 * another model family is named as such). name may be NULL (then ""). */
SVDQ_API svdq_status svdq_flux_lora_add(svdq_context* context, svdq_flux* model, const svdq_lora* lora, float strength,
                                        const char* name, int32_t* out_id);
/* Strength 0 leaves the LoRA listed and the outputs those of the model without it, bit for bit. */
SVDQ_API svdq_status svdq_flux_lora_set_strength(svdq_context* context, svdq_flux* model, int32_t id, float strength);
SVDQ_API svdq_status svdq_flux_lora_remove(svdq_context* context, svdq_flux* model, int32_t id);
/* Removes every LoRA: the outputs are the model's own again, bit for bit. */
SVDQ_API svdq_status svdq_flux_lora_clear(svdq_context* context, svdq_flux* model);
SVDQ_API svdq_status svdq_flux_lora_count(const svdq_flux* model, int32_t* out_count);
/* The LoRA at position `index` (0 .. count - 1, in the order added). */
SVDQ_API svdq_status svdq_flux_lora_get_info(const svdq_flux* model, int32_t index, svdq_flux_lora_info* out_info);
SVDQ_API svdq_status svdq_flux_lora_get_unmatched_key(const svdq_flux* model, int32_t index, int32_t key_index,
                                                      const char** out_key);

/* A LoRA merged into the float weights before quantization (svdq_flux_quantize):
 * W += strength * alpha / r * B A, so the file holds the LoRA for good. */
typedef struct svdq_lora_merge {
    const svdq_lora* lora;
    float strength;
} svdq_lora_merge;

/* ---- model quantization ----------------------------------------------- */
typedef struct svdq_quantize_progress {
    uint32_t struct_size;    /* sizeof(svdq_quantize_progress) */
    const char* layer;       /* the layer just written, as named in the file; valid during the call */
    int64_t done;            /* layers written so far */
    int64_t total;           /* layers in all */
    float calibration_error; /* its relative output error on calibration tokens; < 0 for W4A16 adaLN layers */
} svdq_quantize_progress;

/* Return 0 to go on; anything else cancels (SVDQ_ERROR_CANCELLED, no file). */
typedef int32_t (*svdq_quantize_progress_fn)(void* user_data, const svdq_quantize_progress* progress);

/* Quantizes the float diffusers FLUX model at model_path with SVDQuant and
 * writes one Nunchaku-style safetensors file to output_path (loadable by
 * svdq_flux_load). Calibration: the inputs in calibration_path (the keys of
 * svdq_flux_inputs as a safetensors file; every batch item is a sample), or
 * when NULL 4 synthetic samples (Gaussian latents and text states, which
 * calibrate worse than real prompts). Blocks are streamed one at a time, so
 * memory holds one float block and its calibration activations. options:
 * a W4A4 method, INT4 or NVFP4, the rank; NULL for the defaults. loras
 * (lora_count of them; NULL when 0) are merged into the float weights first,
 * every key matched as svdq_flux_lora_add matches it. progress may be NULL.
 * A failure leaves no file at output_path. */
SVDQ_API svdq_status svdq_flux_quantize(svdq_context* context, const char* model_path, const char* calibration_path,
                                        const char* output_path, const svdq_quantize_options* options,
                                        const svdq_lora_merge* loras, int32_t lora_count,
                                        svdq_quantize_progress_fn progress, void* user_data);

#ifdef __cplusplus
}
#endif

#endif /* SVDQUANT_H */
