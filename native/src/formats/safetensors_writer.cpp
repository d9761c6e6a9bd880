#include "formats/safetensors_writer.h"

#include "formats/pending_file.h"

namespace svdq {

void SafeTensorsWriter::add_view(const std::string& name, int32_t dtype, std::vector<int64_t> shape, const void* data,
                                 uint64_t size_bytes) {
    layout_.add(name, dtype, std::move(shape), data, size_bytes);
    data_[name] = {static_cast<const uint8_t*>(data), nullptr};
}

void SafeTensorsWriter::add(const std::string& name, int32_t dtype, std::vector<int64_t> shape, std::vector<uint8_t> bytes) {
    auto owned = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
    add_view(name, dtype, std::move(shape), owned->data(), owned->size());
    data_[name].owned = std::move(owned);
}

void SafeTensorsWriter::add_copy(const std::string& name, int32_t dtype, std::vector<int64_t> shape, const void* data,
                                 uint64_t size_bytes) {
    layout_.add(name, dtype, std::move(shape), data, size_bytes);
    const auto* bytes = static_cast<const uint8_t*>(data);
    auto owned = std::make_shared<const std::vector<uint8_t>>(bytes, bytes + size_bytes);
    data_[name] = {owned->data(), std::move(owned)};
}

void SafeTensorsWriter::save(const std::string& path) const {
    PendingFile out(path, "partial");
    const std::vector<uint8_t> header = layout_.header_bytes();
    out.write(header.data(), header.size());
    for (const SafeTensorsLayout::Placed& p : layout_.file_order()) out.write(data_.at(*p.name).bytes, p.entry->size);
    out.commit();
}

}  // namespace svdq
