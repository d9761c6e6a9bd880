// Writes a safetensors file without holding its tensors, for checkpoints
// produced piece by piece (a quantizer's output, one transformer block at a
// time). add() appends the bytes to a spill file beside the target at once and
// keeps only the tensor's name, dtype, shape and spill offset; finish() writes
// the header and copies the spilled bytes, in SafeTensorsWriter's layout, into
// `path.partial`, then renames it into place. The file is byte for byte what
// SafeTensorsWriter saves for the same tensors. Memory: that table and one
// copy buffer, whatever the data size; disk: twice the data while finishing.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "formats/pending_file.h"
#include "formats/safetensors_layout.h"

namespace svdq {

class SafeTensorsWriter;

class SafeTensorsStreamWriter {
public:
    // Creates the spill file `path.spill`: SVDQ_ERROR_IO naming `path` when its
    // directory cannot be written, before any work is spent on the tensors.
    explicit SafeTensorsStreamWriter(const std::string& path);
    // An unfinished writer removes its temporaries and leaves `path` untouched.
    ~SafeTensorsStreamWriter() = default;

    const std::string& path() const { return path_; }

    void set_metadata(const std::string& key, const std::string& value) { layout_.set_metadata(key, value); }

    // Checks the tensor as SafeTensorsWriter does, then copies its bytes out:
    // `data` may be freed or reused as soon as this returns.
    void add(const std::string& name, int32_t dtype, std::vector<int64_t> shape, const void* data, uint64_t size_bytes);
    // Every tensor and metadata entry of `block`, which can then be dropped.
    void add_all(const SafeTensorsWriter& block);

    bool contains(const std::string& name) const { return layout_.contains(name); }

    // Writes and renames the file, then removes the spill. Any failure is
    // SVDQ_ERROR_IO naming `path`, and leaves neither file nor temporaries.
    void finish();

private:
    std::string path_;
    SafeTensorsLayout layout_;
    std::map<std::string, uint64_t> spill_offset_;
    uint64_t spilled_ = 0;
    std::unique_ptr<PendingFile> spill_;  // NULL once finished
};

}  // namespace svdq
