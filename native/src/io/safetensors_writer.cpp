#include "io/safetensors_writer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/tensor.h"

namespace svdq {

void SafeTensorsWriter::set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

void SafeTensorsWriter::add_view(const std::string& name, int32_t dtype, std::vector<int64_t> shape, const void* data,
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
    Entry& e = tensors_[name];
    e.dtype = dtype;
    e.shape = std::move(shape);
    e.data = static_cast<const uint8_t*>(data);
    e.size = size_bytes;
}

void SafeTensorsWriter::add(const std::string& name, int32_t dtype, std::vector<int64_t> shape, std::vector<uint8_t> bytes) {
    auto owned = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
    add_view(name, dtype, std::move(shape), owned->data(), owned->size());
    tensors_[name].owned = std::move(owned);
}

void SafeTensorsWriter::add_copy(const std::string& name, int32_t dtype, std::vector<int64_t> shape, const void* data,
                                 uint64_t size_bytes) {
    add_view(name, dtype, std::move(shape), data, size_bytes);
    const auto* bytes = static_cast<const uint8_t*>(data);
    auto owned = std::make_shared<const std::vector<uint8_t>>(bytes, bytes + size_bytes);
    Entry& e = tensors_[name];
    e.data = owned->data();
    e.owned = std::move(owned);
}

std::vector<SafeTensorsWriter::Placed> SafeTensorsWriter::file_order() const {
    std::vector<Placed> order;
    for (const auto& [name, e] : tensors_) order.push_back({&name, &e, 0});
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

std::vector<uint8_t> SafeTensorsWriter::header_bytes() const {
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

void SafeTensorsWriter::save(const std::string& path) const {
    namespace fs = std::filesystem;
    const std::vector<uint8_t> header = header_bytes();
    const fs::path target = fs::u8path(path);
    fs::path temporary = target;
    temporary += ".partial";
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        require(out.good(), SVDQ_ERROR_IO, path + ": cannot create " + temporary.u8string());
        out.write(reinterpret_cast<const char*>(header.data()), static_cast<std::streamsize>(header.size()));
        for (const Placed& p : file_order())
            out.write(reinterpret_cast<const char*>(p.entry->data), static_cast<std::streamsize>(p.entry->size));
        out.close();
        if (!out) {
            std::error_code ignored;
            fs::remove(temporary, ignored);
            fail(SVDQ_ERROR_IO, path + ": writing " + temporary.u8string() + " failed (disk full?)");
        }
    }
    std::error_code error;
    fs::rename(temporary, target, error);
    if (error) {
        std::error_code ignored;
        fs::remove(temporary, ignored);
        fail(SVDQ_ERROR_IO, path + ": cannot move the written file into place (" + error.message() + ")");
    }
}

}  // namespace svdq
