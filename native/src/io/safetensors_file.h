// A safetensors file, memory-mapped and validated at open; tensors are
// zero-copy views into the mapping.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/mapped_file.h"
#include "io/safetensors_header.h"

namespace svdq {

class SafeTensorsFile {
public:
    // Throws SVDQ_ERROR_IO when the file cannot be read, SVDQ_ERROR_FORMAT or
    // SVDQ_ERROR_DTYPE when its header is invalid; messages name the file.
    explicit SafeTensorsFile(const std::string& path);

    const std::string& path() const { return mapped_.path(); }
    uint64_t file_size() const { return mapped_.size(); }
    uint64_t data_offset() const { return header_.data_offset; }
    const std::vector<TensorEntry>& tensors() const { return header_.tensors; }
    const std::map<std::string, std::string>& metadata() const { return header_.metadata; }

    const TensorEntry* find(const std::string& name) const;  // NULL when absent
    // The tensor called `name`; SVDQ_ERROR_FORMAT naming file and tensor when absent.
    const TensorEntry& at(const std::string& name) const;
    // Its bytes in the mapping: size_bytes() of them, read-only, maybe unaligned.
    const uint8_t* data(const TensorEntry& t) const { return mapped_.data() + header_.data_offset + t.begin; }
    // A float tensor's values widened to fp32 (see float_decode.h).
    std::vector<float> read_f32(const TensorEntry& t) const;

    // "file: tensor 'name'", the prefix of every error about one tensor.
    std::string describe(const TensorEntry& t) const { return path() + ": tensor '" + t.name + "'"; }

private:
    MappedFile mapped_;
    SafeTensorsHeader header_;
};

}  // namespace svdq
