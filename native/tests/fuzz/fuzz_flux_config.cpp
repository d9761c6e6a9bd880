// libFuzzer target: arbitrary bytes as a FLUX transformer's diffusers
// config.json. Accepted configs also give their derived sizes, which the
// model loader computes next, so an overflow there is reported too.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "formats/json_text.h"
#include "models/flux/flux_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::expect_svdq_errors_only([&] {
        const svdq::FluxConfig c = svdq::flux_config_from_json(svdq::parse_json(fuzz::as_text(data, size), "config.json"), "config.json");
        volatile int64_t sink = c.inner_dim();
        sink = c.output_features();
        (void)sink;
    });
    return 0;
}
