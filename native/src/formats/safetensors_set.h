// The safetensors files of one model, read as one set: a diffusers or
// transformers folder's shards (those its index json's weight_map names, else
// the files named after the weights, else every *.safetensors) or a single
// file. Tensors are looked up by name across the files; errors name the file
// and the tensor, or the set when no file has it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "formats/safetensors_file.h"

namespace svdq {

class SafeTensorsSet {
public:
    // The weight files of `folder` whose weights are called `stem`
    // ("diffusion_pytorch_model" in diffusers, "model" in transformers): the
    // shards `stem`.safetensors.index.json names, and only those (a folder may
    // also hold stale shards of another revision, whose tensors would shadow
    // the indexed ones); without an index, `stem`*.safetensors, or every
    // *.safetensors when none has that name (other safetensors files beside
    // the weights, such as inputs or references, are not weights).
    static std::vector<std::string> folder_files(const std::string& folder, const std::string& stem);

    // Opens `files`; `name` (the folder or file) prefixes errors about the set.
    SafeTensorsSet(std::string name, const std::vector<std::string>& files);

    const std::string& name() const { return name_; }
    const std::vector<std::unique_ptr<SafeTensorsFile>>& files() const { return files_; }

    // The file holding `tensor`, or NULL when no file has it.
    const SafeTensorsFile* file_with(const std::string& tensor) const;
    bool contains(const std::string& tensor) const { return file_with(tensor) != nullptr; }
    // Every tensor name of every file.
    std::vector<std::string> tensor_names() const;

    // The tensor `tensor`, checked to have `shape`: SVDQ_ERROR_FORMAT naming the
    // set and the tensor when no file has it, SVDQ_ERROR_SHAPE_MISMATCH naming
    // file, tensor, its shape and `shape` when they differ.
    const TensorEntry& entry(const std::string& tensor, const std::vector<int64_t>& shape) const;
    // Its values as float (see SafeTensorsFile::read_f32).
    std::vector<float> read(const std::string& tensor, const std::vector<int64_t>& shape) const;

    // SVDQ_ERROR_FORMAT naming the set and (up to 8 of) the tensors no loader
    // read: a config that disagrees with its weights (fewer layers) must not
    // run silently. With `among`, only the tensors it accepts are considered.
    void require_all_read(bool (*among)(const std::string& tensor) = nullptr) const;

private:
    std::string name_;
    std::vector<std::unique_ptr<SafeTensorsFile>> files_;
};

}  // namespace svdq
