// Writes safetensors files that the reference implementation accepts: keys
// sorted, header padded with spaces to a multiple of 8 bytes, data contiguous.
// Tensors are laid out by element size (largest first), then by name, so each
// starts aligned to its element size.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace svdq {

class SafeTensorsWriter {
public:
    void set_metadata(const std::string& key, const std::string& value);

    // Borrows `data`: it must stay valid and unchanged until the last save().
    void add_view(const std::string& name, int32_t dtype, std::vector<int64_t> shape, const void* data, uint64_t size_bytes);
    // Takes ownership of `bytes`.
    void add(const std::string& name, int32_t dtype, std::vector<int64_t> shape, std::vector<uint8_t> bytes);
    // Copies `data` (checked against dtype and shape first).
    void add_copy(const std::string& name, int32_t dtype, std::vector<int64_t> shape, const void* data, uint64_t size_bytes);

    bool contains(const std::string& name) const { return tensors_.count(name) != 0; }

    // The 8-byte length, the JSON header and its padding, as save() writes them.
    std::vector<uint8_t> header_bytes() const;

    // Writes `path` through a temporary file renamed into place; SVDQ_ERROR_IO
    // naming the path on failure.
    void save(const std::string& path) const;

private:
    struct Entry {
        int32_t dtype = 0;
        std::vector<int64_t> shape;
        const uint8_t* data = nullptr;
        uint64_t size = 0;
        std::shared_ptr<const std::vector<uint8_t>> owned;  // NULL for a borrowed view
    };
    struct Placed {
        const std::string* name;
        const Entry* entry;
        uint64_t begin;  // offset in the data area
    };

    std::vector<Placed> file_order() const;

    std::map<std::string, std::string> metadata_;
    std::map<std::string, Entry> tensors_;
};

}  // namespace svdq
