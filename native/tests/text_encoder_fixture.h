// Test models for the text encoders: named tensors with random values (already
// rounded to the dtype they are stored in, so the float64 references use
// exactly what the file holds), written as a transformers folder:
// config.json plus model.safetensors, or shards with their index json.
#pragma once

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "formats/float_codec.h"
#include "formats/safetensors_writer.h"
#include "svdquant.h"
#include "test_util.h"

namespace svdq::test {

struct TestTensor {
    std::vector<int64_t> shape;
    std::vector<float> values;
};
using TestTensors = std::map<std::string, TestTensor>;

inline std::vector<float> rounded_to(int32_t dtype, std::vector<float> v) {
    for (float& x : v) x = dtype == SVDQ_DTYPE_BF16 ? round_to_bf16(x) : dtype == SVDQ_DTYPE_F16 ? f16_to_float(float_to_f16(x)) : x;
    return v;
}

// mean + stddev * N(0, 1) values of `shape`, seeded by the name's position.
inline void add_random(TestTensors& t, const std::string& name, std::vector<int64_t> shape, float stddev, float mean = 0.0f) {
    int64_t count = 1;
    for (int64_t s : shape) count *= s;
    std::vector<float> v = gaussian(static_cast<size_t>(count), 1000 + t.size(), stddev);
    for (float& x : v) x += mean;
    t[name] = {std::move(shape), std::move(v)};
}

inline TestTensors rounded_to(int32_t dtype, TestTensors t) {
    for (auto& [name, tensor] : t) tensor.values = rounded_to(dtype, std::move(tensor.values));
    return t;
}

// A fresh folder under the system's temp directory (per run: it may be shared).
inline std::filesystem::path fresh_folder(const std::string& tag) {
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("svdq_" + tag + "_" + std::to_string(std::random_device{}()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

// config.json and the tensors in `dtype`: model.safetensors when shards is 1,
// else model-0000i-of-0000n.safetensors and model.safetensors.index.json.
inline void write_transformers_folder(const std::filesystem::path& dir, const std::string& config, const TestTensors& tensors,
                                      int32_t dtype, int shards) {
    std::ofstream(dir / "config.json") << config;
    const auto shard_name = [&](int i) {
        if (shards == 1) return std::string("model.safetensors");
        char name[64];
        std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", i + 1, shards);
        return std::string(name);
    };
    std::vector<SafeTensorsWriter> writers(static_cast<size_t>(shards));
    std::string weight_map;
    size_t i = 0;
    for (const auto& [name, t] : tensors) {
        const int shard = static_cast<int>(i++ * static_cast<size_t>(shards) / tensors.size());
        writers[static_cast<size_t>(shard)].add(name, dtype, t.shape, encode_from_f32(t.values, dtype));
        weight_map += std::string(weight_map.empty() ? "" : ",\n    ") + "\"" + name + "\": \"" + shard_name(shard) + "\"";
    }
    for (int s = 0; s < shards; ++s) writers[static_cast<size_t>(s)].save((dir / shard_name(s)).string());
    if (shards > 1)
        std::ofstream(dir / "model.safetensors.index.json") << "{\n  \"metadata\": {},\n  \"weight_map\": {\n    " << weight_map
                                                            << "\n  }\n}\n";
}

}  // namespace svdq::test
