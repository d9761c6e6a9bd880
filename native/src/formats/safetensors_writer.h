// Writes safetensors files that the reference implementation accepts: keys
// sorted, header padded with spaces to a multiple of 8 bytes, data contiguous.
// Tensors are laid out by element size (largest first), then by name, so each
// starts aligned to its element size (io/safetensors_layout.h). Every tensor
// stays in memory until save(); io/safetensors_stream_writer.h does not.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "formats/safetensors_layout.h"

namespace svdq {

class SafeTensorsWriter {
public:
    void set_metadata(const std::string& key, const std::string& value) { layout_.set_metadata(key, value); }

    // Borrows `data`: it must stay valid and unchanged until the last save().
    void add_view(const std::string& name, int32_t dtype, std::vector<int64_t> shape, const void* data, uint64_t size_bytes);
    // Takes ownership of `bytes`.
    void add(const std::string& name, int32_t dtype, std::vector<int64_t> shape, std::vector<uint8_t> bytes);
    // Copies `data` (checked against dtype and shape first).
    void add_copy(const std::string& name, int32_t dtype, std::vector<int64_t> shape, const void* data, uint64_t size_bytes);

    bool contains(const std::string& name) const { return layout_.contains(name); }
    const SafeTensorsLayout& layout() const { return layout_; }
    // The bytes of the tensor called `name`, which must have been added.
    const uint8_t* data(const std::string& name) const { return data_.at(name).bytes; }

    // The 8-byte length, the JSON header and its padding, as save() writes them.
    std::vector<uint8_t> header_bytes() const { return layout_.header_bytes(); }

    // Writes `path` through a temporary file renamed into place; SVDQ_ERROR_IO
    // naming the path on failure.
    void save(const std::string& path) const;

private:
    struct Bytes {
        const uint8_t* bytes = nullptr;
        std::shared_ptr<const std::vector<uint8_t>> owned;  // NULL for a borrowed view
    };

    SafeTensorsLayout layout_;
    std::map<std::string, Bytes> data_;
};

}  // namespace svdq
