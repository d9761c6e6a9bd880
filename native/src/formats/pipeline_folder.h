// A diffusers pipeline folder holds one folder per component (transformer/,
// vae/, text_encoder/, ...) beside model_index.json. Every loader takes either
// the component itself or the whole pipeline.
#pragma once

#include <string>

namespace svdq {

// `path` itself when it is not a folder (a file, or nothing: the loader names
// it) or holds config.json; else `path`/`component` when that is a folder.
// Any other folder is SVDQ_ERROR_IO naming what it lacks.
std::string pipeline_component(const std::string& path, const std::string& component);

}  // namespace svdq
