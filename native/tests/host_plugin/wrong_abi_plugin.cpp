// A plugin library from another build: its table speaks a plugin ABI this
// libsvdquant does not (test_c_api_devices.cpp checks the refusal).
#include "backend/plugin/backend_plugin.h"

namespace {

const svdq_backend_plugin kPlugin = {SVDQ_PLUGIN_ABI_VERSION + 1000, "CUDA"};

}  // namespace

SVDQ_PLUGIN_EXPORT const svdq_backend_plugin* svdq_backend_plugin_get(void) { return &kPlugin; }
