// The CUDA backend's ops besides linear layers, with backend.h's semantics
// (the CPU backend is the reference): each runs on the backend's stream and
// throws PluginError on bad arguments or a failed launch. Views are device
// memory; row_stride may exceed cols wherever backend.h allows a strided view.
#pragma once

#include <cstdint>

#include "backend/cuda/cuda_backend.cuh"

namespace svdq::cuda {

using View = svdq_plugin_view;

void attention(CudaBackend& b, const View& q, const View& k, const View& v, int64_t head_dim, const View& out);
void biased_attention(CudaBackend& b, const View& q, const View& k, const View& v, int64_t head_dim,
                      const svdq_plugin_attention_bias& bias, const View& out);
void layer_norm(CudaBackend& b, const View& x, const View& weight, const View& bias, float eps, const View& out);
void activate(CudaBackend& b, const View& x, int32_t activation);
void multiply(CudaBackend& b, const View& x, const View& other);
void layer_norm_modulate(CudaBackend& b, const View& x, const View& scale, const View& shift, float eps, const View& out);
void rms_norm_heads(CudaBackend& b, const View& x, const View& weight, float eps);
void rope(CudaBackend& b, const View& x, const View& cos, const View& sin);
void silu(CudaBackend& b, const View& x);
void group_norm(CudaBackend& b, const View& x, int64_t groups, const View& weight, const View& bias, float eps, bool silu,
                const View& out);
void conv3x3_patches(CudaBackend& b, const View& image, const svdq_plugin_conv_geometry& geometry, int64_t first_out_row,
                     const View& out);
void add(CudaBackend& b, const View& x, const View& update);
void gated_add(CudaBackend& b, const View& x, const View& update, const View& gate);

}  // namespace svdq::cuda
