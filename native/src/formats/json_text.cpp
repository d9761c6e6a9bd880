#include "formats/json_text.h"

#include <set>
#include <vector>

#include "core/error.h"
#include "formats/mapped_file.h"

namespace svdq {

nlohmann::json parse_json(std::string_view text, const std::string& what) {
    using json = nlohmann::json;
    // One set of seen keys per open object.
    std::vector<std::set<std::string>> open_objects;
    std::string duplicate;
    size_t values = 0;
    // Checked as the parser goes, before the document grows with the input:
    // hostile nesting or a flood of values stops at the limit, not at the
    // end of the stack or of memory.
    const json::parser_callback_t check = [&](int depth, json::parse_event_t event, json& parsed) {
        switch (event) {
            case json::parse_event_t::object_start:
            case json::parse_event_t::array_start:
                require(depth < kJsonMaxDepth, SVDQ_ERROR_FORMAT,
                        what + " nests deeper than " + std::to_string(kJsonMaxDepth) + " levels");
                if (event == json::parse_event_t::object_start) open_objects.emplace_back();
                break;
            case json::parse_event_t::object_end: open_objects.pop_back(); break;
            case json::parse_event_t::key:
                if (!open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty())
                    duplicate = parsed.get<std::string>();
                break;
            case json::parse_event_t::value:
                require(++values <= kJsonMaxValues, SVDQ_ERROR_FORMAT,
                        what + " holds more than " + std::to_string(kJsonMaxValues) + " JSON values");
                break;
            default: break;
        }
        return true;
    };
    json result;
    try {
        result = json::parse(text.begin(), text.end(), check);
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
