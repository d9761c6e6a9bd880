#include "core/last_error.h"
#include "svdquant.h"

extern "C" {

SVDQ_API const char* svdq_version(void) { return SVDQ_VERSION_STRING; }

SVDQ_API int32_t svdq_abi_version(void) { return SVDQ_ABI_VERSION; }

SVDQ_API const char* svdq_last_error_message(void) { return svdq::last_error(); }

}  // extern "C"
