// The table of a safetensors file being written, without its bytes: each
// tensor's name, dtype, shape and size, plus the "__metadata__" map. Both
// writers (in memory and streaming) keep one, so they check tensors the same
// way and produce the same header and the same data layout.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace svdq {

class SafeTensorsLayout {
public:
    struct Entry {
        int32_t dtype = 0;
        std::vector<int64_t> shape;
        uint64_t size = 0;
    };
    struct Placed {
        const std::string* name;
        const Entry* entry;
        uint64_t begin;  // offset in the data area
    };

    void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

    // Records a tensor after checking that its name is usable and new, its
    // dtype known and `data` [size_bytes] exactly its bytes; errors name it.
    // `data` is only checked, not kept.
    void add(const std::string& name, int32_t dtype, std::vector<int64_t> shape, const void* data, uint64_t size_bytes);

    bool contains(const std::string& name) const { return entries_.count(name) != 0; }
    const std::map<std::string, Entry>& entries() const { return entries_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

    // The data area: largest element size first, then by name, so each tensor
    // starts aligned to its element size (the header's length is a multiple of 8).
    std::vector<Placed> file_order() const;

    // The 8-byte length, the JSON header (keys sorted, compact) and its
    // padding with spaces to a multiple of 8 bytes.
    std::vector<uint8_t> header_bytes() const;

private:
    std::map<std::string, std::string> metadata_;
    std::map<std::string, Entry> entries_;
};

}  // namespace svdq
