// A W4A16 linear layer as Nunchaku's text encoders store it: its W4Linear
// (nunchaku/models/text_encoders/linear.py, TinyChat's layout), the form of
// every quantized linear in Nunchaku's AWQ INT4 T5-XXL checkpoint
// (awq-int4-flux.1-t5xxl.safetensors):
//
//   <prefix>.qweight       I16 [N/4, K]   unsigned nibbles in pack_w4 order (awq_packing.h)
//   <prefix>.scales        F16/BF16 [G, N] one scale per output channel per group of K
//   <prefix>.scaled_zeros  F16/BF16 [G, N] value = q * scale + scaled_zero
//
// No bias (T5's linears have none). G is TinyChat's ceil_num_groups(K,
// group): K / group rounded up to whole int32 packs of 8 groups, the packs
// to a multiple of 2 for group 64; the rows past K / group are zero. Nunchaku
// builds T5's W4Linear with group 128 (its gemm_awq runs no other); group 64,
// the engine's own, has the same layout, and the row count tells them apart
// (G(K, 64) = 2 G(K, 128)).
#pragma once

#include <cstdint>
#include <string>

#include "formats/nunchaku_w4a16_linear.h"
#include "formats/safetensors_file.h"
#include "formats/safetensors_writer.h"

namespace svdq {

// TinyChat's ceil_num_groups(k, group_size, 4) for group 64 or 128.
int64_t tinychat_stored_groups(int64_t k, int64_t group_size);

// Reads the layer "<prefix>" of [out, in] (errors name the file, the tensor,
// and the dtype or the shape found and the one the layer needs). The values
// come in 64-groups: a 128-group's scale and zero serve both of its halves.
// *group_size receives the file's, 64 or 128.
NunchakuW4A16Linear read_tinychat_w4a16_linear(const SafeTensorsFile& file, const std::string& prefix, int64_t out,
                                               int64_t in, int64_t* group_size);

// The tensors of those read, for the loader to release their pages.
inline constexpr const char* kTinyChatTensors[] = {"qweight", "scales", "scaled_zeros"};

// Adds the layer under `prefix` in groups of `group_size`: 64, or 128 when
// every pair of 64-groups shares its scale and zero (a layer read from a
// group-128 file); SVDQ_ERROR_INVALID_ARGUMENT otherwise, or for a bias.
void add_tinychat_w4a16_linear(SafeTensorsWriter& writer, const std::string& prefix, const NunchakuW4A16Linear& layer,
                               int64_t group_size);

}  // namespace svdq
