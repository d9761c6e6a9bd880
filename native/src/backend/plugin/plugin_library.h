// Finds and loads a backend plugin library (libsvdquant_cuda) once per
// process: beside libsvdquant itself, or where SVDQ_CUDA_LIBRARY says. A
// library that is missing, fails to load, lacks the entry point or speaks
// another plugin ABI is refused with SVDQ_ERROR_UNSUPPORTED naming the path
// and the reason; that refusal is remembered like a success.
#pragma once

#include "backend/plugin/backend_plugin.h"

namespace svdq {

// The CUDA plugin's function table; throws Error(SVDQ_ERROR_UNSUPPORTED) when it cannot be used.
const svdq_backend_plugin& cuda_plugin();

}  // namespace svdq
