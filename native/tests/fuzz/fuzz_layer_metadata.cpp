// libFuzzer target: arbitrary bytes as the "svdquant_layer" metadata of a
// layer file (what `svdquant layer quantize` writes). The file holds no
// tensors, so every input ends in an svdq::Error, after the metadata has been
// parsed and checked in full or refused.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "formats/quantized_layer_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static fuzz::MemoryFile file;
    fuzz::expect_svdq_errors_only([&] {
        svdq::read_quantized_layer(file.hold(fuzz::metadata_only_image("svdquant_layer", fuzz::as_text(data, size))));
    });
    return 0;
}
