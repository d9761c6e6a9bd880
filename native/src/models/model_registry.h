// Model families by the class names their configs carry (config.json's
// `_class_name`, or a single file's __metadata__ "config" / "model_class").
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/model.h"

namespace svdq {

struct ModelFamily {
    const char* name;
    std::vector<std::string> class_names;
    std::unique_ptr<Model> (*load)(Context& ctx, const std::string& path, svdq_linear_scheme scheme);
};

const std::vector<ModelFamily>& model_families();

// The class name a model folder or file declares ("" when it names none).
std::string declared_model_class(const std::string& path);

// Loads the model at `path` with the family its class name selects;
// SVDQ_ERROR_UNSUPPORTED naming the class and the known ones otherwise.
std::unique_ptr<Model> load_model(Context& ctx, const std::string& path, svdq_linear_scheme scheme);

}  // namespace svdq
