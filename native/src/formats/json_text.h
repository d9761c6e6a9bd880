// JSON through nlohmann-json, for safetensors headers, checkpoint metadata and
// config.json. Errors say what was being read; duplicate keys are errors too
// (the library would silently keep the last one).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace svdq {

// Limits every JSON document read is held to: FLUX.1's largest header nests
// 4 levels and holds ~40000 values.
constexpr int kJsonMaxDepth = 64;
constexpr size_t kJsonMaxValues = 4'000'000;

// Parses `text`; `what` (e.g. "model.safetensors: header") prefixes errors,
// which are SVDQ_ERROR_FORMAT, as are documents beyond the limits above.
nlohmann::json parse_json(std::string_view text, const std::string& what);

// A whole file's bytes as text; SVDQ_ERROR_IO naming the path when unreadable.
std::string read_text_file(const std::string& path);

// Reads and parses a JSON file such as a diffusers config.json.
nlohmann::json read_json_file(const std::string& path);

}  // namespace svdq
