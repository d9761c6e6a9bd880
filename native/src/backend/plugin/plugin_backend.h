// A Backend whose buffers and ops live in a plugin library (the CUDA
// backend): every call crosses backend_plugin.h's C door, a failure coming
// back as an Error with the plugin's message. Layers are prepared on the
// host here, with the engine's own quantizer and numerics, so a plugin only
// uploads values and runs kernels.
#pragma once

#include <cstdint>
#include <memory>

#include "backend/backend.h"
#include "backend/plugin/backend_plugin.h"

namespace svdq {

class ThreadPool;

// The backend on device `ordinal` of the plugin (kind: which svdq_backend it is).
std::unique_ptr<Backend> make_plugin_backend(const svdq_backend_plugin& plugin, svdq_backend kind, int32_t ordinal,
                                             ThreadPool& pool);

// Calls that fail throw Error(status, "<plugin> <what>: <plugin's message>").
void check_plugin(const svdq_backend_plugin& plugin, int32_t status, const char* what);

}  // namespace svdq
