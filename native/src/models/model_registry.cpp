#include "models/model_registry.h"

#include <filesystem>

#include "core/error.h"
#include "formats/json_text.h"
#include "formats/safetensors_file.h"
#include "models/flux/flux_model.h"

namespace svdq {

const std::vector<ModelFamily>& model_families() {
    static const std::vector<ModelFamily> families{
        {"flux", {"FluxTransformer2DModel", "NunchakuFluxTransformer2dModel"}, load_flux_model},
    };
    return families;
}

const Tensor* find_input(const NamedTensors& in, std::string_view name) {
    for (const NamedTensor& t : in)
        if (t.name == name) return t.tensor;
    return nullptr;
}

namespace {

std::string class_in_config(const std::string& text, const std::string& what) {
    const nlohmann::json j = parse_json(text, what);
    const auto it = j.find("_class_name");
    return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

std::string declared_model_class(const std::string& path) {
    if (std::filesystem::is_directory(path)) {
        const std::string config = path + "/config.json";
        return std::filesystem::exists(config) ? class_in_config(read_text_file(config), config) : "";
    }
    const SafeTensorsFile file(path);
    const auto& metadata = file.metadata();
    if (const auto config = metadata.find("config"); config != metadata.end()) {
        const std::string name = class_in_config(config->second, path + ": __metadata__ 'config'");
        if (!name.empty()) return name;
    }
    const auto model_class = metadata.find("model_class");
    return model_class != metadata.end() ? model_class->second : "";
}

std::unique_ptr<Model> load_model(Context& ctx, const std::string& path, svdq_linear_scheme scheme) {
    const std::string name = declared_model_class(path);
    std::string known;
    for (const ModelFamily& family : model_families())
        for (const std::string& class_name : family.class_names) {
            if (class_name == name) return family.load(ctx, path, scheme);
            known += (known.empty() ? "" : ", ") + class_name;
        }
    fail(SVDQ_ERROR_UNSUPPORTED, path + ": " + (name.empty() ? std::string("names no model class (_class_name)")
                                                              : "model class '" + name + "' is not supported") +
                                     "; supported: " + known);
}

}  // namespace svdq
