// The safetensors header: an 8-byte little-endian length, then that many
// bytes of JSON mapping tensor names to {dtype, shape, data_offsets} plus an
// optional "__metadata__" string map; tensor data follows. Parsing validates
// everything before any tensor byte is touched, so a corrupt or hostile file
// is an error that names the file and the tensor, never an out-of-bounds read.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace svdq {

// Headers larger than this are refused, as the reference implementation does.
constexpr uint64_t kMaxSafeTensorsHeaderBytes = 100'000'000;

struct TensorEntry {
    std::string name;
    int32_t dtype = 0;            // svdq_dtype
    std::vector<int64_t> shape;
    int64_t numel = 0;
    uint64_t begin = 0;           // byte range in the data area, [begin, end)
    uint64_t end = 0;

    uint64_t size_bytes() const { return end - begin; }
    std::string shape_string() const;  // "[3072, 1536]"
};

struct SafeTensorsHeader {
    uint64_t data_offset = 0;  // file offset of the data area: 8 + header length
    std::vector<TensorEntry> tensors;               // in name order
    std::map<std::string, std::string> metadata;    // "__metadata__"
};

// Validates the header of the safetensors image `bytes` [size] (the whole
// file): the length fits the file, the JSON is well formed, every dtype is
// known, every shape matches its byte range, and the ranges tile the data
// area in order without gaps or overlaps. `file` names the image in errors.
SafeTensorsHeader parse_safetensors_header(const uint8_t* bytes, uint64_t size, const std::string& file);

// The svdq_dtype whose safetensors name is `name` ("F32", "BF16", ...), or -1.
int32_t dtype_from_safetensors_name(const std::string& name);

}  // namespace svdq
