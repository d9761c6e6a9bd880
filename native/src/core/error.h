// Errors inside the engine are exceptions carrying a C API status; the API
// layer (api/api_guard.h) turns them into status codes at the boundary.
#pragma once

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "svdquant.h"

namespace svdq {

class Error : public std::runtime_error {
public:
    Error(svdq_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
    svdq_status status() const noexcept { return status_; }

private:
    svdq_status status_;
};

[[noreturn]] inline void fail(svdq_status status, const std::string& message) { throw Error(status, message); }

inline void require(bool condition, svdq_status status, const std::string& message) {
    if (!condition) fail(status, message);
}

// A fixed message costs nothing until it fails (no std::string is built), so
// checks on the forward path keep it allocation-free.
inline void require(bool condition, svdq_status status, const char* message) {
    if (!condition) fail(status, message);
}

// A value for a message: "NaN", "Inf", "-Inf" or the number (%g), never the
// platform's "nan"/"-nan"/"inf" of std::to_string.
inline std::string value_text(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "Inf" : "-Inf";
    char text[32];
    std::snprintf(text, sizeof text, "%g", v);
    return text;
}

}  // namespace svdq
