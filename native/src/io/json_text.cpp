#include "io/json_text.h"

#include <set>
#include <vector>

#include "core/error.h"
#include "io/mapped_file.h"

namespace svdq {

nlohmann::json parse_json(std::string_view text, const std::string& what) {
    using json = nlohmann::json;
    // One set of seen keys per open object.
    std::vector<std::set<std::string>> open_objects;
    std::string duplicate;
    const json::parser_callback_t track_keys = [&](int, json::parse_event_t event, json& parsed) {
        switch (event) {
            case json::parse_event_t::object_start: open_objects.emplace_back(); break;
            case json::parse_event_t::object_end: open_objects.pop_back(); break;
            case json::parse_event_t::key:
                if (!open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty())
                    duplicate = parsed.get<std::string>();
                break;
            default: break;
        }
        return true;
    };
    json result;
    try {
        result = json::parse(text.begin(), text.end(), track_keys);
    } catch (const json::exception& e) {
        fail(SVDQ_ERROR_FORMAT, what + " is not valid JSON (" + e.what() + ")");
    }
    require(duplicate.empty(), SVDQ_ERROR_FORMAT, what + " has the key '" + duplicate + "' twice");
    return result;
}

std::string read_text_file(const std::string& path) {
    const MappedFile file(path);
    const auto* text = reinterpret_cast<const char*>(file.data());
    return text == nullptr ? std::string() : std::string(text, static_cast<size_t>(file.size()));
}

nlohmann::json read_json_file(const std::string& path) { return parse_json(read_text_file(path), path); }

}  // namespace svdq
