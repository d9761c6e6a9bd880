#include "formats/safetensors_stream_writer.h"

#include <algorithm>
#include <fstream>

#include "core/error.h"
#include "formats/safetensors_writer.h"

namespace svdq {

namespace {

// Large enough that copying runs at disk speed, small next to any checkpoint.
constexpr uint64_t kCopyChunkBytes = uint64_t{8} << 20;

}  // namespace

SafeTensorsStreamWriter::SafeTensorsStreamWriter(const std::string& path)
    : path_(path), spill_(std::make_unique<PendingFile>(path, "spill")) {}

void SafeTensorsStreamWriter::add(const std::string& name, int32_t dtype, std::vector<int64_t> shape, const void* data,
                                  uint64_t size_bytes) {
    require(spill_ != nullptr, SVDQ_ERROR_INVALID_ARGUMENT, path_ + ": tensor '" + name + "' added after finish()");
    layout_.add(name, dtype, std::move(shape), data, size_bytes);
    spill_offset_[name] = spilled_;
    spill_->write(data, size_bytes);
    spilled_ += size_bytes;
}

void SafeTensorsStreamWriter::add_all(const SafeTensorsWriter& block) {
    for (const auto& [name, e] : block.layout().entries()) add(name, e.dtype, e.shape, block.data(name), e.size);
    for (const auto& [key, value] : block.layout().metadata()) set_metadata(key, value);
}

void SafeTensorsStreamWriter::finish() {
    require(spill_ != nullptr, SVDQ_ERROR_INVALID_ARGUMENT, path_ + ": finish() was called twice");
    spill_->close();
    std::ifstream spilled(spill_->temporary(), std::ios::binary);
    require(spilled.good(), SVDQ_ERROR_IO, path_ + ": cannot read back " + spill_->temporary().u8string());

    PendingFile out(path_, "partial");
    const std::vector<uint8_t> header = layout_.header_bytes();
    out.write(header.data(), header.size());
    std::vector<char> buffer(static_cast<size_t>(std::min(kCopyChunkBytes, spilled_)));
    for (const SafeTensorsLayout::Placed& p : layout_.file_order()) {
        spilled.seekg(static_cast<std::streamoff>(spill_offset_.at(*p.name)));
        for (uint64_t done = 0; done < p.entry->size;) {
            const uint64_t n = std::min<uint64_t>(buffer.size(), p.entry->size - done);
            spilled.read(buffer.data(), static_cast<std::streamsize>(n));
            require(spilled.good(), SVDQ_ERROR_IO,
                    path_ + ": reading tensor '" + *p.name + "' back from " + spill_->temporary().u8string() + " failed");
            out.write(buffer.data(), n);
            done += n;
        }
    }
    out.commit();
    spilled.close();
    spill_.reset();
}

}  // namespace svdq
