#include "formats/file_identity.h"

#include <map>
#include <mutex>

namespace svdq {

namespace {

struct Registry {
    std::mutex mutex;
    std::multimap<std::pair<uint64_t, uint64_t>, std::string> open;  // (device, inode) -> path
};

Registry& registry() {
    static Registry r;
    return r;
}

std::pair<uint64_t, uint64_t> key(const FileId& id) { return {id.device, id.inode}; }

}  // namespace

OpenInput::OpenInput(const std::optional<FileId>& id, const std::string& path) : id_(id) {
    if (!id_) return;
    Registry& r = registry();
    const std::lock_guard<std::mutex> lock(r.mutex);
    r.open.emplace(key(*id_), path);
}

OpenInput::~OpenInput() {
    if (!id_) return;
    Registry& r = registry();
    const std::lock_guard<std::mutex> lock(r.mutex);
    r.open.erase(r.open.find(key(*id_)));
}

std::string open_input_named_by(const std::string& path) {
    const std::optional<FileId> id = file_id(path);
    if (!id) return "";
    Registry& r = registry();
    const std::lock_guard<std::mutex> lock(r.mutex);
    const auto it = r.open.find(key(*id));
    return it == r.open.end() ? "" : it->second;
}

}  // namespace svdq
