#include "models/config_fields.h"

#include <cmath>

#include "core/error.h"

namespace svdq {

namespace {

bool absent(const nlohmann::json& j, const char* key) { return !j.contains(key) || j[key].is_null(); }

}  // namespace

int64_t config_positive(const nlohmann::json& j, const char* key, int64_t fallback, const std::string& what) {
    if (absent(j, key)) return fallback;
    require(j[key].is_number_integer() && j[key].get<int64_t>() > 0 && j[key].get<int64_t>() <= kMaxConfigSize, SVDQ_ERROR_FORMAT,
            what + ": \"" + key + "\" must be a positive integer up to " + std::to_string(kMaxConfigSize) + ", got " + j[key].dump());
    return j[key].get<int64_t>();
}

double config_positive_number(const nlohmann::json& j, const char* key, double fallback, const std::string& what) {
    if (absent(j, key)) return fallback;
    require(j[key].is_number() && std::isfinite(j[key].get<double>()) && j[key].get<double>() > 0.0, SVDQ_ERROR_FORMAT,
            what + ": \"" + key + "\" must be a positive number, got " + j[key].dump());
    return j[key].get<double>();
}

std::string config_string(const nlohmann::json& j, const char* key, const std::string& fallback, const std::string& what) {
    if (absent(j, key)) return fallback;
    require(j[key].is_string(), SVDQ_ERROR_FORMAT, what + ": \"" + key + "\" must be a string, got " + j[key].dump());
    return j[key].get<std::string>();
}

}  // namespace svdq
