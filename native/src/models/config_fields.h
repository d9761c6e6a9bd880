// Reading one field of a model's config.json, validated; errors
// (SVDQ_ERROR_FORMAT) name `what` (the file) and the key.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace svdq {

// Bound on every size and count a config gives: real models need at most
// ~50000 (a vocabulary), and products of a few such values must not overflow
// int64 when a hostile config.json asks for 2^62.
constexpr int64_t kMaxConfigSize = int64_t{1} << 20;

// A positive integer up to kMaxConfigSize; `fallback` when the key is absent or null.
int64_t config_positive(const nlohmann::json& j, const char* key, int64_t fallback, const std::string& what);
// A positive finite number; `fallback` when absent or null.
double config_positive_number(const nlohmann::json& j, const char* key, double fallback, const std::string& what);
// A string; `fallback` when absent or null.
std::string config_string(const nlohmann::json& j, const char* key, const std::string& fallback, const std::string& what);

}  // namespace svdq
