#include "models/text_encoder_loading.h"

#include <filesystem>

#include "backend/context.h"
#include "core/error.h"
#include "formats/json_text.h"

namespace svdq {

namespace fs = std::filesystem;

TransformersFolder open_transformers_folder(const std::string& folder) {
    std::error_code ec;
    require(fs::is_directory(folder, ec), SVDQ_ERROR_IO, folder + ": no such folder");
    const std::string config_path = (fs::path(folder) / "config.json").string();
    require(fs::exists(config_path, ec), SVDQ_ERROR_IO, config_path + ": missing (a transformers model folder has one)");
    nlohmann::json config = read_json_file(config_path);
    return {config_path, std::move(config), SafeTensorsSet(folder, SafeTensorsSet::folder_files(folder, "model"))};
}

LinearWeights float_linear_weights(const SafeTensorsSet& tensors, const std::string& name, int64_t out, int64_t in, bool bias) {
    LinearWeights w;
    w.n = out;
    w.k = in;
    w.weight = tensors.read(name + ".weight", {out, in});
    if (bias) w.bias = tensors.read(name + ".bias", {out});
    return w;
}

Linear float_linear(Context& ctx, const SafeTensorsSet& tensors, const std::string& name, int64_t out, int64_t in, bool bias,
                    svdq_activation activation) {
    LinearWeights w = float_linear_weights(tensors, name, out, in, bias);
    w.activation = activation;
    return Linear(ctx, w);
}

Embedding load_embedding(const SafeTensorsSet& tensors, const std::string& name, int64_t rows, int64_t cols) {
    const TensorEntry& t = tensors.entry(name, {rows, cols});
    const SafeTensorsFile& file = *tensors.file_with(name);
    return Embedding(t.dtype, rows, cols, file.data(t), file.describe(t));
}

Buffer load_buffer(Context& ctx, const SafeTensorsSet& tensors, const std::string& name, const std::vector<int64_t>& shape) {
    const std::vector<float> values = tensors.read(name, shape);
    Buffer buffer(ctx.backend(), shape.size() == 1 ? 1 : shape.front(), shape.back());
    ctx.backend().upload(values.data(), buffer.view());
    return buffer;
}

}  // namespace svdq
