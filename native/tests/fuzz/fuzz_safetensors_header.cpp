// libFuzzer target: arbitrary bytes as a whole safetensors file. The parser
// must either reject them with svdq::Error or return tensors whose bytes all
// lie inside the input; every such byte is read (and floats decoded) so that
// AddressSanitizer reports any range the validation let through wrongly.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_support.h"
#include "formats/float_codec.h"
#include "formats/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::expect_svdq_errors_only([&] {
        const svdq::SafeTensorsHeader header = svdq::parse_safetensors_header(data, size, "fuzz-input");
        volatile uint8_t sink = 0;
        for (const svdq::TensorEntry& t : header.tensors) {
            const uint8_t* bytes = data + header.data_offset + t.begin;
            for (uint64_t i = 0; i < t.size_bytes(); ++i) sink = static_cast<uint8_t>(sink ^ bytes[i]);
            if (svdq::is_float_dtype(t.dtype)) {
                std::vector<float> values(static_cast<size_t>(t.numel));
                svdq::decode_to_f32(t.dtype, bytes, values.size(), values.data(), t.name.c_str());
            }
        }
    });
    return 0;
}
