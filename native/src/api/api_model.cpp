#include "api/api_guard.h"
#include "backend/context.h"
#include "models/model_registry.h"

using namespace svdq;

struct svdq_model {
    std::unique_ptr<Model> model;
};

namespace {

// The caller's (names, tensors) pairs; every name given, no name twice.
NamedTensors named_inputs(const char* const* names, const svdq_tensor* const* tensors, int32_t count) {
    require(count >= 0 && count <= 1024, SVDQ_ERROR_INVALID_ARGUMENT, "count " + std::to_string(count) + " must be 0..1024");
    require(count == 0 || (names != nullptr && tensors != nullptr), SVDQ_ERROR_INVALID_ARGUMENT, "names and tensors are NULL");
    NamedTensors in;
    for (int32_t i = 0; i < count; ++i) {
        require(names[i] != nullptr, SVDQ_ERROR_INVALID_ARGUMENT, "names[" + std::to_string(i) + "] is NULL");
        require(find_input(in, names[i]) == nullptr, SVDQ_ERROR_INVALID_ARGUMENT, std::string("input '") + names[i] + "' is given twice");
        in.push_back({names[i], tensors[i]});
    }
    return in;
}

}  // namespace

extern "C" {

SVDQ_API svdq_status svdq_model_load_options_init(svdq_model_load_options* options) {
    return guarded(__func__, [&] {
        svdq_model_load_options& o = deref(options, "options");
        o = svdq_model_load_options{};
        o.struct_size = sizeof(svdq_model_load_options);
        o.scheme = SVDQ_SCHEME_FLOAT;
    });
}

SVDQ_API svdq_status svdq_model_load(svdq_context* context, const char* path, const svdq_model_load_options* options,
                                     svdq_model** out_model) {
    return guarded(__func__, [&] {
        svdq_model*& out = deref(out_model, "out_model");
        out = nullptr;
        const ContextCall call(context);
        deref(path, "path");
        svdq_model_load_options o;
        svdq_model_load_options_init(&o);
        if (options != nullptr) o = read_versioned(*options, o, "svdq_model_load_options");
        out = new svdq_model{load_model(call.context(), path, scheme_value(o.scheme, "scheme"))};
    });
}

SVDQ_API svdq_status svdq_model_destroy(svdq_model* model) {
    return guarded(__func__, [&] { delete model; });
}

SVDQ_API svdq_status svdq_model_get_info(const svdq_model* model, svdq_model_info* out_info) {
    return guarded(__func__, [&] {
        const Model& m = *deref(model, "model").model;
        svdq_model_info info{};
        info.family = m.family();
        info.class_name = m.class_name().c_str();
        info.scheme = m.scheme();
        info.format = m.format();
        info.input_count = static_cast<int32_t>(m.inputs().size());
        info.parameter_count = m.parameter_count();
        info.weight_bytes = m.weight_bytes();
        write_versioned(deref(out_info, "out_info"), info, "svdq_model_info");
    });
}

SVDQ_API svdq_status svdq_model_get_input(const svdq_model* model, int32_t index, const char** out_name,
                                          int32_t* out_required) {
    return guarded(__func__, [&] {
        const std::vector<ModelInput>& inputs = deref(model, "model").model->inputs();
        require(index >= 0 && static_cast<size_t>(index) < inputs.size(), SVDQ_ERROR_INVALID_ARGUMENT,
                "index " + std::to_string(index) + " is outside the model's " + std::to_string(inputs.size()) + " inputs");
        deref(out_name, "out_name") = inputs[static_cast<size_t>(index)].name;
        if (out_required != nullptr) *out_required = inputs[static_cast<size_t>(index)].required;
    });
}

SVDQ_API svdq_status svdq_model_get_output_shape(const svdq_model* model, const char* const* names,
                                                 const svdq_tensor* const* tensors, int32_t count, int64_t* out_shape,
                                                 int32_t* out_ndim) {
    return guarded(__func__, [&] {
        const Model& m = *deref(model, "model").model;
        deref(out_shape, "out_shape");
        const std::vector<int64_t> shape = m.output_shape(named_inputs(names, tensors, count));
        std::copy(shape.begin(), shape.end(), out_shape);
        deref(out_ndim, "out_ndim") = static_cast<int32_t>(shape.size());
    });
}

SVDQ_API svdq_status svdq_model_forward(svdq_context* context, const svdq_model* model, const char* const* names,
                                        const svdq_tensor* const* tensors, int32_t count, svdq_tensor* out) {
    return guarded(__func__, [&] {
        const ContextCall call(context);
        const Model& m = *deref(model, "model").model;
        m.forward(call.context(), named_inputs(names, tensors, count), deref(out, "out"));
    });
}

}  // extern "C"
