// LoRA files for the tests, written with the project's safetensors writer in
// the layouts the trainers publish, and the float64 products that say what a
// LoRA module adds to a weight (scale * B A).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "formats/safetensors_writer.h"
#include "temp_path.h"

namespace svdq::test {

// k / 64 with |k| <= 128: F32, F16 and BF16 hold these exactly, so a file of
// any dtype decodes to the very values written.
inline std::vector<float> lora_values(int64_t count, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> k(-128, 128);
    std::vector<float> v(static_cast<size_t>(count));
    for (float& x : v) x = static_cast<float>(k(rng)) / 64.0f;
    return v;
}

// Tensors in F32, F16 or BF16, encoded here from the formats' definitions.
class LoraWriter {
public:
    explicit LoraWriter(int32_t dtype = SVDQ_DTYPE_F32) : dtype_(dtype) {}

    void tensor(const std::string& key, std::vector<int64_t> shape, const std::vector<float>& values, int32_t dtype = -1) {
        const int32_t d = dtype < 0 ? dtype_ : dtype;
        std::vector<uint8_t> bytes;
        if (d == SVDQ_DTYPE_F32) {
            bytes.resize(values.size() * 4);
            std::memcpy(bytes.data(), values.data(), bytes.size());
        } else {
            bytes.resize(values.size() * 2);
            for (size_t i = 0; i < values.size(); ++i) {
                const uint16_t h = d == SVDQ_DTYPE_BF16 ? float_to_bf16(values[i]) : float_to_f16(values[i]);
                std::memcpy(bytes.data() + 2 * i, &h, 2);
            }
        }
        writer_.add(key, d, std::move(shape), std::move(bytes));
    }
    // A module: down [rank, in] under `down_key`, up [out, rank] under `up_key`.
    void pair(const std::string& down_key, const std::string& up_key, const std::vector<float>& down,
              const std::vector<float>& up, int64_t rank, int64_t in, int64_t out) {
        tensor(down_key, {rank, in}, down);
        tensor(up_key, {out, rank}, up);
    }
    void scalar(const std::string& key, float value) { tensor(key, {}, {value}); }
    // Raw bytes of any dtype (F64, I64, ...).
    void raw(const std::string& key, int32_t dtype, std::vector<int64_t> shape, std::vector<uint8_t> bytes) {
        writer_.add(key, dtype, std::move(shape), std::move(bytes));
    }

    std::string save(const std::string& tag) const {
        const std::string path = temp_path(tag + ".safetensors");
        writer_.save(path);
        return path;
    }

private:
    int32_t dtype_;
    SafeTensorsWriter writer_;
};

// Runs `body`, which must throw svdq::Error with `status` and a message holding every needle.
template <class Body>
void expect_svdq_error(Body&& body, svdq_status status, const std::vector<std::string>& needles) {
    try {
        body();
        ADD_FAILURE() << "no error; expected status " << status;
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), status) << e.what();
        for (const std::string& needle : needles)
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "'" << e.what() << "' lacks '" << needle << "'";
    }
}

}  // namespace svdq::test
