// Where a T5 encoder's weights are, each block linear in the form its layer
// holds, and the 4-bit file T5Encoder::save writes.
//
// A source is a transformers T5EncoderModel folder (config.json beside
// model.safetensors or the shards its index names) or one safetensors file
// whose __metadata__ "config" holds that config.json's text (Nunchaku's AWQ
// INT4 T5-XXL, awq-int4-flux.1-t5xxl.safetensors, or a file save() wrote),
// else with config.json beside it. In either, each block linear is float
// ("<name>.weight" [out, in]) or W4A16 in Nunchaku's W4Linear layout
// ("<name>.qweight", ".scales", ".scaled_zeros": formats/tinychat_w4a16_linear.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/linear_weights.h"
#include "formats/safetensors_set.h"
#include "models/t5/t5_config.h"
#include "svdquant.h"

namespace svdq {

class ThreadPool;

struct T5Checkpoint {
    std::string path;
    std::string config_text;  // the config.json text, what a saved file's __metadata__ "config" carries
    T5Config config;
    SafeTensorsSet tensors;
};

// SVDQ_ERROR_IO when `path` is neither folder nor file; SVDQ_ERROR_FORMAT
// naming both places when a file has no config.
T5Checkpoint open_t5_checkpoint(const std::string& path);

// One linear of a block: its name (without ".weight"), sizes and epilogue.
struct T5LinearSpec {
    std::string name;
    int64_t out = 0, in = 0;
    svdq_activation activation = SVDQ_ACTIVATION_NONE;
};

// Block `block`'s q, k, v, o, wi_0 (gelu_new in its epilogue), wi_1, wo.
std::vector<T5LinearSpec> t5_block_linears(const T5Config& config, int64_t block);

struct T5StoredLinear {
    LinearWeights weights;
    int64_t group_size = 0;  // a 4-bit layer's group, 64 or 128 (a file's); 0: float
};

// The linear as its layer holds it: 4-bit as a file stores it, whatever
// `scheme`; a float one float (scheme FLOAT) or quantized here to INT4 in
// groups of 64 (W4A16), the values Linear itself would quantize to, so that
// a file written from them holds what runs. The layer's pages of the
// mapped source are released once read, so loading holds one float layer.
T5StoredLinear read_t5_linear(const T5Checkpoint& source, const T5LinearSpec& spec, svdq_linear_scheme scheme,
                              ThreadPool& pool);

// Drops `tensor`'s pages of the mapped source from memory (see SafeTensorsFile::release).
void release_t5_tensor(const T5Checkpoint& source, const std::string& tensor);

// Writes the encoder `source` gives with `scheme` as one safetensors file,
// one layer at a time: every linear that is 4-bit in the W4Linear layout in
// its group (a Nunchaku file's 128 stays 128, so that file is rewritten as
// it was), every other tensor as the source stores it (dtype and bytes),
// __metadata__ "config" = the config text, all Nunchaku's loader reads.
// Through a temporary renamed into place: no partial file on failure.
void write_t5_w4a16_file(const T5Checkpoint& source, svdq_linear_scheme scheme, ThreadPool& pool, const std::string& path);

}  // namespace svdq
