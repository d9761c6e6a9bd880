#include "io/safetensors_file.h"

#include <algorithm>

#include "core/error.h"
#include "io/float_codec.h"

namespace svdq {

SafeTensorsFile::SafeTensorsFile(const std::string& path)
    : mapped_(path), header_(parse_safetensors_header(mapped_.data(), mapped_.size(), path)) {}

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
    return values;
}

}  // namespace svdq
