#include "formats/safetensors_file.h"

#include <algorithm>

#include "core/error.h"
#include "core/tensor.h"
#include "formats/float_codec.h"

namespace svdq {

SafeTensorsFile::SafeTensorsFile(const std::string& path)
    : mapped_(path),
      header_(parse_safetensors_header(mapped_.data(), mapped_.size(), path)),
      read_(std::make_unique<std::atomic<bool>[]>(header_.tensors.size())) {}

const uint8_t* SafeTensorsFile::data(const TensorEntry& t) const {
    const auto& all = header_.tensors;
    // An entry of another SafeTensorsFile of the same path is found by name.
    const TensorEntry* own = &t >= all.data() && &t < all.data() + all.size() ? &t : find(t.name);
    if (own != nullptr) read_[static_cast<size_t>(own - all.data())].store(true, std::memory_order_relaxed);
    return mapped_.data() + header_.data_offset + t.begin;
}

std::vector<std::string> SafeTensorsFile::unread_tensors() const {
    std::vector<std::string> names;
    for (size_t i = 0; i < header_.tensors.size(); ++i)
        if (!read_[i].load(std::memory_order_relaxed)) names.push_back(header_.tensors[i].name);
    return names;
}

const TensorEntry* SafeTensorsFile::find(const std::string& name) const {
    const auto& all = header_.tensors;
    const auto it = std::lower_bound(all.begin(), all.end(), name,
                                     [](const TensorEntry& t, const std::string& n) { return t.name < n; });
    return it != all.end() && it->name == name ? &*it : nullptr;
}

const TensorEntry& SafeTensorsFile::at(const std::string& name) const {
    const TensorEntry* t = find(name);
    if (t == nullptr) fail(SVDQ_ERROR_FORMAT, path() + ": tensor '" + name + "' is missing");
    return *t;
}

std::vector<float> SafeTensorsFile::read_f32(const TensorEntry& t) const {
    std::vector<float> values(static_cast<size_t>(t.numel));
    decode_to_f32(t.dtype, data(t), values.size(), values.data(), describe(t).c_str());
    require_finite(values.data(), values.size(), describe(t));
    return values;
}

}  // namespace svdq
