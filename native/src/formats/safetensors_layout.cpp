#include "formats/safetensors_layout.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/tensor.h"

namespace svdq {

void SafeTensorsLayout::add(const std::string& name, int32_t dtype, std::vector<int64_t> shape, const void* data,
                            uint64_t size_bytes) {
    require(!name.empty() && name != "__metadata__", SVDQ_ERROR_INVALID_ARGUMENT,
            "'" + name + "' cannot name a tensor in a safetensors file");
    require(!contains(name), SVDQ_ERROR_INVALID_ARGUMENT, "tensor '" + name + "' was added twice");
    try {
        // The borrowed-tensor constructor checks dtype, shape and byte count.
        const Tensor check(dtype, shape.data(), static_cast<int32_t>(shape.size()), const_cast<void*>(data), size_bytes);
    } catch (const Error& e) {
        fail(e.status(), "tensor '" + name + "': " + e.what());
    }
    entries_[name] = {dtype, std::move(shape), size_bytes};
}

std::vector<SafeTensorsLayout::Placed> SafeTensorsLayout::file_order() const {
    std::vector<Placed> order;
    for (const auto& [name, e] : entries_) order.push_back({&name, &e, 0});
    std::stable_sort(order.begin(), order.end(), [](const Placed& a, const Placed& b) {
        return dtype_size(a.entry->dtype) > dtype_size(b.entry->dtype);
    });
    uint64_t position = 0;
    for (Placed& p : order) {
        p.begin = position;
        position += p.entry->size;
    }
    return order;
}

std::vector<uint8_t> SafeTensorsLayout::header_bytes() const {
    nlohmann::json root = nlohmann::json::object();  // std::map inside: keys come out sorted
    for (const Placed& p : file_order()) {
        const Entry& e = *p.entry;
        root[*p.name] = {{"dtype", dtype_name(e.dtype)}, {"shape", e.shape}, {"data_offsets", {p.begin, p.begin + e.size}}};
    }
    if (!metadata_.empty()) root["__metadata__"] = metadata_;
    std::string text = root.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    std::vector<uint8_t> bytes(8 + text.size());
    const uint64_t length = text.size();
    for (size_t i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(length >> (8 * i));
    std::copy(text.begin(), text.end(), bytes.begin() + 8);
    return bytes;
}

}  // namespace svdq
