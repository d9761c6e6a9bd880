// flux-tiny (data/flux-tiny) as `svdquant quantize` writes it with the
// defaults at rank 16 (SVDQuant INT4, calibrated on its own inputs), made
// once per test process on first use: nine tests start from this file,
// and one quantization takes 1-2 s, 5-6 s under the sanitizers, where one
// process runs many tests. Read it; never change or remove it.
#pragma once

#include <string>

#include "backend/context.h"
#include "formats/safetensors_file.h"
#include "models/flux/flux_input_set.h"
#include "models/flux/flux_quantizer.h"
#include "models/flux/flux_transformer.h"
#include "temp_path.h"
#include "test_util.h"

namespace svdq::test {

inline const std::string& flux_tiny_svdquant_r16() {
    static const std::string path = [] {
        const std::string model = std::string(SVDQ_TEST_DATA_DIR) + "/flux-tiny";
        Context ctx(context_options());
        const FluxCheckpoint checkpoint(model);
        const FluxInputSet calibration = read_flux_inputs(SafeTensorsFile(model + "/inputs.safetensors"), checkpoint.config());
        QuantizerOptions options;
        options.rank = 16;
        const std::string file = (run_folder() / "flux_tiny_svdquant_r16.safetensors").string();
        quantize_flux(ctx, checkpoint, {calibration.view()}, options, file);
        return file;
    }();
    return path;
}

}  // namespace svdq::test
