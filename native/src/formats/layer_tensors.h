// The tensors of one quantized layer in a checkpoint ("<prefix>.<suffix>"),
// with checks whose errors name the file and the tensor.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "formats/safetensors_file.h"

namespace svdq {

class LayerTensors {
public:
    // `kind` describes the layer in messages, e.g. "W4A4 layer".
    LayerTensors(const SafeTensorsFile& file, std::string prefix, std::string kind)
        : file_(file), prefix_(std::move(prefix)), kind_(std::move(kind)) {}

    const SafeTensorsFile& file() const { return file_; }
    const std::string& prefix() const { return prefix_; }
    std::string name(const std::string& suffix) const { return prefix_ + "." + suffix; }

    const TensorEntry* optional(const std::string& suffix) const { return file_.find(name(suffix)); }
    // SVDQ_ERROR_FORMAT "file: tensor 'prefix.suffix' is missing (the W4A4 layer 'prefix' needs it)".
    const TensorEntry& required(const std::string& suffix) const;

    // SVDQ_ERROR_FORMAT unless t has exactly `shape`.
    void expect_shape(const TensorEntry& t, const std::vector<int64_t>& shape) const;
    // SVDQ_ERROR_DTYPE unless t's dtype is one of `dtypes`.
    void expect_dtype(const TensorEntry& t, std::initializer_list<int32_t> dtypes) const;
    // SVDQ_ERROR_FORMAT with "file: tensor 'name': what".
    [[noreturn]] void fail_tensor(const TensorEntry& t, const std::string& what) const;

private:
    const SafeTensorsFile& file_;
    std::string prefix_;
    std::string kind_;
};

}  // namespace svdq
