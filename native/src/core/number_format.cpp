#include "core/number_format.h"

#include "core/error.h"

namespace svdq {

const char* scheme_name(svdq_linear_scheme scheme) {
    switch (scheme) {
    case SVDQ_SCHEME_FLOAT: return "FLOAT";
    case SVDQ_SCHEME_W4A16: return "W4A16";
    case SVDQ_SCHEME_W4A4: return "W4A4";
    }
    return "unknown scheme";
}

const char* format_name(svdq_number_format format) {
    switch (format) {
    case SVDQ_FORMAT_FLOAT: return "FLOAT";
    case SVDQ_FORMAT_INT4: return "INT4";
    case SVDQ_FORMAT_NVFP4: return "NVFP4";
    }
    return "unknown format";
}

void require_scheme_format(svdq_linear_scheme scheme, svdq_number_format format, const std::string& what) {
    const bool pairs = scheme == SVDQ_SCHEME_FLOAT    ? format == SVDQ_FORMAT_FLOAT
                       : scheme == SVDQ_SCHEME_W4A16 ? format == SVDQ_FORMAT_INT4
                                                     : format == SVDQ_FORMAT_INT4 || format == SVDQ_FORMAT_NVFP4;
    require(pairs, SVDQ_ERROR_UNSUPPORTED,
            what + ": a " + scheme_name(scheme) + " layer in format " + format_name(format) +
                " does not exist: FLOAT layers are FLOAT, W4A16 layers hold INT4 weights only (AWQ's form), "
                "W4A4 layers are INT4 or NVFP4");
}

svdq_linear_scheme scheme_value(int32_t value, const char* field) {
    require(value >= SVDQ_SCHEME_FLOAT && value <= SVDQ_SCHEME_W4A4, SVDQ_ERROR_INVALID_ARGUMENT,
            std::string(field) + " " + std::to_string(value) + " is not a svdq_linear_scheme value");
    return static_cast<svdq_linear_scheme>(value);
}

svdq_number_format format_value(int32_t value, const char* field) {
    require(value >= SVDQ_FORMAT_FLOAT && value <= SVDQ_FORMAT_NVFP4, SVDQ_ERROR_INVALID_ARGUMENT,
            std::string(field) + " " + std::to_string(value) + " is not a svdq_number_format value");
    return static_cast<svdq_number_format>(value);
}

}  // namespace svdq
