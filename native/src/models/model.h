// A model family behind one interface: what it is, its named inputs, and a
// forward into an output the caller provides. The registry
// (models/model_registry.h) loads one by the class name its config names, so
// a new family is a folder under models/ plus one registry line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "svdquant.h"

namespace svdq {

class Context;

struct NamedTensor {
    std::string_view name;
    const Tensor* tensor;  // NULL: not given
};
using NamedTensors = std::vector<NamedTensor>;

// The tensor called `name` among `in`, or NULL.
const Tensor* find_input(const NamedTensors& in, std::string_view name);

struct ModelInput {
    const char* name;
    bool required;
};

class Model {
public:
    virtual ~Model() = default;

    virtual const char* family() const = 0;        // the registry's name, e.g. "flux"
    virtual const std::string& class_name() const = 0;  // the config's _class_name
    virtual svdq_linear_scheme scheme() const = 0;    // of the quantizable (block) linears
    virtual svdq_number_format format() const = 0;    // of the same linears
    virtual int64_t parameter_count() const = 0;
    virtual uint64_t weight_bytes() const = 0;
    virtual const std::vector<ModelInput>& inputs() const = 0;

    // The output's shape for these inputs, every input checked (names,
    // dtypes, shapes, finiteness); unknown names are refused.
    virtual std::vector<int64_t> output_shape(const NamedTensors& in) const = 0;
    // Checks the inputs as output_shape does, then out (F32 host memory of
    // that shape), then runs.
    virtual void forward(Context& ctx, const NamedTensors& in, Tensor& out) const = 0;
};

}  // namespace svdq
