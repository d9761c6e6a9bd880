#include "models/t5/t5_checkpoint.h"

#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/numerics/int4.h"
#include "formats/json_text.h"
#include "formats/nunchaku_layer_convert.h"
#include "formats/safetensors_stream_writer.h"
#include "formats/safetensors_writer.h"
#include "formats/tinychat_w4a16_linear.h"
#include "models/text_encoder_loading.h"

namespace svdq {

namespace fs = std::filesystem;

namespace {

// The config of one file: its __metadata__ "config", else config.json beside it.
std::pair<std::string, std::string> file_config(const SafeTensorsFile& file) {
    const auto& metadata = file.metadata();
    if (const auto it = metadata.find("config"); it != metadata.end())
        return {it->second, file.path() + ": __metadata__ \"config\""};
    const std::string beside = (fs::path(file.path()).parent_path() / "config.json").string();
    std::error_code ec;
    require(fs::is_regular_file(beside, ec), SVDQ_ERROR_FORMAT,
            file.path() + ": no T5 config: the file's __metadata__ has no \"config\" and there is no " + beside +
                " (put the model's config.json, e.g. text_encoder_2/config.json, beside it)");
    return {read_text_file(beside), beside};
}

}  // namespace

T5Checkpoint open_t5_checkpoint(const std::string& path) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
        TransformersFolder folder = open_transformers_folder(path);
        T5Config config = t5_config_from_json(folder.config, folder.config_path);
        return {path, read_text_file(folder.config_path), config, std::move(folder.tensors)};
    }
    require(fs::exists(path, ec), SVDQ_ERROR_IO, path + ": no such file or folder (a T5 encoder folder or safetensors file)");
    SafeTensorsSet tensors(path, {path});
    auto [text, what] = file_config(*tensors.files().front());
    T5Config config = t5_config_from_json(parse_json(text, what), what);
    return {path, std::move(text), config, std::move(tensors)};
}

std::vector<T5LinearSpec> t5_block_linears(const T5Config& c, int64_t block) {
    const std::string p = "encoder.block." + std::to_string(block) + ".layer.";
    const int64_t d = c.d_model, inner = c.inner_dim(), ff = c.d_ff;
    return {{p + "0.SelfAttention.q", inner, d},
            {p + "0.SelfAttention.k", inner, d},
            {p + "0.SelfAttention.v", inner, d},
            {p + "0.SelfAttention.o", d, inner},
            {p + "1.DenseReluDense.wi_0", ff, d, SVDQ_ACTIVATION_GELU_TANH},
            {p + "1.DenseReluDense.wi_1", ff, d},
            {p + "1.DenseReluDense.wo", d, ff}};
}

void release_t5_tensor(const T5Checkpoint& source, const std::string& tensor) {
    if (const SafeTensorsFile* file = source.tensors.file_with(tensor)) file->release(file->at(tensor));
}

T5StoredLinear read_t5_linear(const T5Checkpoint& source, const T5LinearSpec& spec, svdq_linear_scheme scheme,
                              ThreadPool& pool) {
    T5StoredLinear s;
    if (const SafeTensorsFile* file = source.tensors.file_with(spec.name + ".qweight")) {
        s.weights = linear_weights_from_awq(read_tinychat_w4a16_linear(*file, spec.name, spec.out, spec.in, &s.group_size));
        for (const char* suffix : kTinyChatTensors) release_t5_tensor(source, spec.name + "." + suffix);
    } else {
        s.weights = float_linear_weights(source.tensors, spec.name, spec.out, spec.in, /*bias=*/false);  // T5 has none
        release_t5_tensor(source, spec.name + ".weight");
        if (scheme == SVDQ_SCHEME_W4A16) {
            require(spec.in % kInt4Group == 0, SVDQ_ERROR_SHAPE_MISMATCH,
                    source.path + ": '" + spec.name + "' has " + std::to_string(spec.in) +
                        " inputs; W4A16 needs a multiple of 64");
            s.weights.scheme = SVDQ_SCHEME_W4A16;
            s.weights.format = SVDQ_FORMAT_INT4;
            s.weights.quantized_residual = quantize_int4(s.weights.weight.data(), spec.out, spec.in, pool);
            s.weights.weight = {};  // frees the float copy
            s.group_size = kInt4Group;
        }
    }
    s.weights.activation = spec.activation;
    return s;
}

void write_t5_w4a16_file(const T5Checkpoint& source, svdq_linear_scheme scheme, ThreadPool& pool, const std::string& path) {
    SafeTensorsStreamWriter out(path);
    out.set_metadata("config", source.config_text);
    std::set<std::string> quantized;  // the linears written here; their source tensors are not copied
    for (int64_t i = 0; i < source.config.num_layers; ++i)
        for (const T5LinearSpec& spec : t5_block_linears(source.config, i)) {
            const T5StoredLinear s = read_t5_linear(source, spec, scheme, pool);
            if (s.group_size == 0) continue;
            SafeTensorsWriter layer;
            add_tinychat_w4a16_linear(layer, spec.name, awq_from_linear_weights(s.weights, pool), s.group_size);
            out.add_all(layer);
            quantized.insert(spec.name);
        }
    for (const auto& file : source.tensors.files())
        for (const TensorEntry& t : file->tensors()) {
            if (quantized.count(t.name.substr(0, t.name.rfind('.'))) != 0) continue;
            out.add(t.name, t.dtype, t.shape, file->data(t), t.size_bytes());
            file->release(t);
        }
    out.finish();
}

}  // namespace svdq
