// Element-wise activations, shared by every backend's epilogue and by host math.
#pragma once

#include <cmath>

namespace svdq {

// GELU, tanh approximation (FLUX's MLP uses it).
inline float gelu_tanh(float v) {
    constexpr float kSqrt2OverPi = 0.7978845608028654f;
    return 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
}

}  // namespace svdq
