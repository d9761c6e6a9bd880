// One linear layer between the engine's LinearWeights and Nunchaku's layer
// forms (models/nunchaku_linear.h: SVDQuant W4A4 in INT4 or NVFP4;
// models/nunchaku_w4a16_linear.h: AWQ W4A16), at the layer's real sizes: the
// file writers pad, crop_nunchaku_linear crops.
//
// Towards Nunchaku the 4-bit values are those a Linear built from the same
// weights holds: quantized exactly as Linear quantizes, or the stored ones
// when the weights came from a file. From Nunchaku the stored 4-bit values
// are used as they are, never quantized again. In memory both directions are
// exact: a Linear built from the converted weights computes bit for bit what
// a Linear built from the originals computes.
#pragma once

#include "formats/nunchaku_linear.h"
#include "formats/nunchaku_w4a16_linear.h"
#include "nn/linear.h"

namespace svdq {

class ThreadPool;

// A W4A4 layer (INT4 or NVFP4 by w.format). NVFP4 carries Nunchaku's
// per-channel `wcscales` (all 1 when quantized here) and the tensor scale
// `wtscale`. lora_down reads the input as it arrives (down / smooth); smooth
// is all 1 when w has none.
NunchakuLinear nunchaku_from_linear_weights(const LinearWeights& w, ThreadPool& pool);

// The layer as Linear runs it, its 4-bit residual as stored. The input is
// divided by `smooth` (smooth_orig is not read: see nunchaku_flux_layout.h
// for out_proj); a smooth of all 1 becomes none. Activation and branch
// execution keep their defaults.
LinearWeights linear_weights_from_nunchaku(const NunchakuLinear& cropped);

// An INT4 W4A16 layer as AWQ stores it: the symmetric q * scale becomes
// q_u = q + 8 with zero = -8 * scale (the same values); stored zero points
// are kept as they are.
NunchakuW4A16Linear awq_from_linear_weights(const LinearWeights& w, ThreadPool& pool);

// The AWQ layer with its values and zero points as stored (any zeros: value
// = q_u * scale + zero). Zeros that are exactly -8 * scale are the symmetric
// form and are dropped, so such a layer runs the symmetric kernels.
LinearWeights linear_weights_from_awq(const NunchakuW4A16Linear& layer);

}  // namespace svdq
