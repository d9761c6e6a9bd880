// A safetensors file, memory-mapped and validated at open; tensors are
// zero-copy views into the mapping.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "formats/mapped_file.h"
#include "formats/safetensors_header.h"

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
    // Marks the tensor as read (see unread_tensors).
    const uint8_t* data(const TensorEntry& t) const;
    // A float tensor's values widened to fp32 (see float_codec.h); SVDQ_ERROR_NON_FINITE
    // naming file, tensor and flat index for a NaN or Inf (or a value that overflows fp32).
    std::vector<float> read_f32(const TensorEntry& t) const;
    // Drops the tensor's pages from resident memory (MappedFile::release)
    // once a loader has taken what it needs from them.
    void release(const TensorEntry& t) const { mapped_.release(header_.data_offset + t.begin, t.size_bytes()); }

    // The names of the tensors whose data nobody asked for yet, in file order:
    // what a model loader did not use.
    std::vector<std::string> unread_tensors() const;

    // "file: tensor 'name'", the prefix of every error about one tensor.
    std::string describe(const TensorEntry& t) const { return path() + ": tensor '" + t.name + "'"; }

private:
    MappedFile mapped_;
    SafeTensorsHeader header_;
    std::unique_ptr<std::atomic<bool>[]> read_;  // per tensor; atomic as handles may be read from several threads
};

}  // namespace svdq
