// libFuzzer target: arbitrary bytes as a whole checkpoint file, inspected as
// `svdquant inspect` does: the header, then the Nunchaku metadata
// ("quantization_config", "config") and the layers it declares, to tell the
// checkpoint's flavour. The seeds are Nunchaku-style files whose metadata the
// mutations reach inside the header's strings.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "formats/safetensors_file.h"
#include "formats/checkpoint_flavour.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static fuzz::MemoryFile file;
    fuzz::expect_svdq_errors_only([&] {
        const svdq::SafeTensorsFile checkpoint(file.hold(fuzz::as_text(data, size)));
        svdq::inspect_checkpoint(checkpoint);
    });
    return 0;
}
