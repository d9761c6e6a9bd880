// The engine's one numeric vocabulary: a layer's scheme (which operands are
// 4-bit) and the number format of its values, and which pairs exist.
#pragma once

#include <string>

#include "svdquant.h"

namespace svdq {

const char* scheme_name(svdq_linear_scheme scheme);  // "FLOAT", "W4A16", "W4A4"
const char* format_name(svdq_number_format format);  // "FLOAT", "INT4", "NVFP4"

// FLOAT runs FLOAT, W4A16 runs INT4, W4A4 runs INT4 or NVFP4. Any other pair
// is SVDQ_ERROR_UNSUPPORTED naming both and `what`, never another format.
void require_scheme_format(svdq_linear_scheme scheme, svdq_number_format format, const std::string& what);

// Checks C enum values, naming the field: SVDQ_ERROR_INVALID_ARGUMENT otherwise.
svdq_linear_scheme scheme_value(int32_t value, const char* field);
svdq_number_format format_value(int32_t value, const char* field);

}  // namespace svdq
