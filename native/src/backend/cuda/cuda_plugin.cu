// libsvdquant_cuda's only export: the backend_plugin.h function table. Each
// entry runs its body through plugin_call, so no exception leaves the library.
#include <string>

#include "backend/cuda/cuda_devices.cuh"
#include "backend/cuda/cuda_linear.cuh"
#include "backend/cuda/cuda_memory.cuh"

namespace svdq::cuda {

namespace {

thread_local std::string last_error_message;

const char* last_error() { return last_error_message.c_str(); }

CudaBackend& backend(void* b) { return *static_cast<CudaBackend*>(b); }

int32_t device_count(int32_t* out_count) {
    return plugin_call([&] {
        *out_count = 0;
        *out_count = usable_device_count();
    });
}

int32_t device_info(int32_t ordinal, svdq_plugin_device* out) {
    return plugin_call([&] { *out = describe_device(ordinal); });
}

int32_t create(int32_t ordinal, void** out) {
    return plugin_call([&] {
        *out = nullptr;
        *out = create_backend(ordinal);
    });
}

void destroy(void* b) { destroy_backend(static_cast<CudaBackend*>(b)); }

int32_t allocate_buffer(void* b, size_t bytes, void** out) {
    return plugin_call([&] {
        *out = nullptr;
        *out = allocate(backend(b), bytes);
    });
}

void release_buffer(void* b, void* data) { release(backend(b), data); }

int32_t upload_view(void* b, const float* host, View dst) { return plugin_call([&] { upload(backend(b), host, dst); }); }
int32_t download_view(void* b, View src, float* host) { return plugin_call([&] { download(backend(b), src, host); }); }
int32_t copy_view(void* b, View src, View dst) { return plugin_call([&] { copy(backend(b), src, dst); }); }

int32_t prepare(void* b, const svdq_plugin_linear_desc* desc, void** out, uint64_t* bytes) {
    return plugin_call([&] {
        *out = nullptr;
        CudaLinear* layer = prepare_linear(backend(b), *desc);
        *bytes = linear_memory_bytes(*layer);
        *out = layer;
    });
}

void destroy_layer(void* layer) { destroy_linear(static_cast<CudaLinear*>(layer)); }

int32_t set_updates(void* b, void* layer, const svdq_plugin_low_rank_update* updates, int32_t count, uint64_t* bytes) {
    return plugin_call([&] {
        auto& l = *static_cast<CudaLinear*>(layer);
        set_low_rank_updates(backend(b), l, updates, count);
        *bytes = linear_memory_bytes(l);
    });
}

int32_t linear(void* b, void* layer, View x, View y) {
    return plugin_call([&] { run_linear(backend(b), *static_cast<const CudaLinear*>(layer), x, y); });
}

int32_t mlp(void* b, void* first, void* second, View x, View hidden, View y) {
    return plugin_call([&] {
        run_mlp(backend(b), *static_cast<const CudaLinear*>(first), *static_cast<const CudaLinear*>(second), x, hidden, y);
    });
}

// Either precision: the kernel stages q, k and v in BF16 (cuda_attention.cu).
int32_t attention_op(void* b, View q, View k, View v, int64_t head_dim, int32_t /*precision*/, View out) {
    return plugin_call([&] { attention(backend(b), q, k, v, head_dim, out); });
}
int32_t biased_attention_op(void* b, View q, View k, View v, int64_t head_dim, const svdq_plugin_attention_bias* bias, View out) {
    return plugin_call([&] { biased_attention(backend(b), q, k, v, head_dim, *bias, out); });
}
int32_t layer_norm_op(void* b, View x, View weight, View bias, float eps, View out) {
    return plugin_call([&] { layer_norm(backend(b), x, weight, bias, eps, out); });
}
int32_t activate_op(void* b, View x, int32_t activation) { return plugin_call([&] { activate(backend(b), x, activation); }); }
int32_t multiply_op(void* b, View x, View other) { return plugin_call([&] { multiply(backend(b), x, other); }); }
int32_t layer_norm_modulate_op(void* b, View x, View scale, View shift, float eps, View out) {
    return plugin_call([&] { layer_norm_modulate(backend(b), x, scale, shift, eps, out); });
}
int32_t rms_norm_heads_op(void* b, View x, View weight, float eps) {
    return plugin_call([&] { rms_norm_heads(backend(b), x, weight, eps); });
}
int32_t rope_op(void* b, View x, View cos, View sin) { return plugin_call([&] { rope(backend(b), x, cos, sin); }); }
int32_t silu_op(void* b, View x) { return plugin_call([&] { silu(backend(b), x); }); }
int32_t group_norm_op(void* b, View x, int64_t groups, View weight, View bias, float eps, int32_t with_silu, View out) {
    return plugin_call([&] { group_norm(backend(b), x, groups, weight, bias, eps, with_silu != 0, out); });
}
int32_t conv3x3_patches_op(void* b, View image, const svdq_plugin_conv_geometry* geometry, int64_t first_out_row, View out) {
    return plugin_call([&] { conv3x3_patches(backend(b), image, *geometry, first_out_row, out); });
}
int32_t add_op(void* b, View x, View update) { return plugin_call([&] { add(backend(b), x, update); }); }
int32_t gated_add_op(void* b, View x, View update, View gate) { return plugin_call([&] { gated_add(backend(b), x, update, gate); }); }

const svdq_backend_plugin kPlugin = {
    SVDQ_PLUGIN_ABI_VERSION,
    "CUDA",
    last_error,
    device_count,
    device_info,
    create,
    destroy,
    allocate_buffer,
    release_buffer,
    upload_view,
    download_view,
    copy_view,
    prepare,
    destroy_layer,
    set_updates,
    linear,
    mlp,
    attention_op,
    biased_attention_op,
    layer_norm_op,
    activate_op,
    multiply_op,
    layer_norm_modulate_op,
    rms_norm_heads_op,
    rope_op,
    silu_op,
    group_norm_op,
    conv3x3_patches_op,
    add_op,
    gated_add_op,
};

}  // namespace

void set_last_error(const char* message) { last_error_message = message; }

}  // namespace svdq::cuda

SVDQ_PLUGIN_EXPORT const svdq_backend_plugin* svdq_backend_plugin_get(void) { return &svdq::cuda::kPlugin; }
