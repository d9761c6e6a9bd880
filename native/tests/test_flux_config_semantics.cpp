// patch_size and out_channels mean what they mean in diffusers'
// FluxTransformer2DModel: x_embedder reads in_channels features per image
// token (the pipeline packs 2x2 latent patches before the transformer), and
// proj_out writes patch_size^2 * out_channels (out_channels null: in_channels).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "backend/context.h"
#include "core/error.h"
#include "formats/safetensors_file.h"
#include "models/flux/flux_input_set.h"
#include "models/flux/flux_transformer.h"
#include "test_util.h"

namespace svdq {

namespace {

namespace fs = std::filesystem;

const std::string kModel = std::string(SVDQ_TEST_DATA_DIR) + "/flux-tiny";

// flux-tiny's weights under its config with `from` replaced by `to`.
fs::path with_config(const std::string& from, const std::string& to) {
    const fs::path dir = fs::temp_directory_path() / ("svdq_flux_config_" + std::to_string(std::random_device{}()));
    fs::create_directories(dir);
    fs::copy_file(kModel + "/diffusion_pytorch_model.safetensors", dir / "diffusion_pytorch_model.safetensors");
    std::ifstream in(kModel + "/config.json");
    std::stringstream text;
    text << in.rdbuf();
    std::string config = text.str();
    const size_t at = config.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    config.replace(at, from.size(), to);
    std::ofstream(dir / "config.json") << config;
    return dir;
}

std::vector<float> forward(Context& ctx, const FluxTransformer& model, const FluxConfig& config) {
    const FluxInputSet in = read_flux_inputs(SafeTensorsFile(kModel + "/inputs.safetensors"), config);
    return model.forward(ctx, in.view());
}

}  // namespace

// flux-tiny has in_channels 16, patch_size 1: x_embedder [d, 16], proj_out
// [16, d]. The same tensors are exactly a diffusers model with patch_size 2
// and out_channels 4 (proj_out 2 * 2 * 4 = 16 rows): diffusers builds and runs
// it, and it computes the same function. The engine used to refuse it
// ("x_embedder.weight has shape [72, 16], the config needs [72, 64]").
TEST(FluxConfigSemantics, PatchSizeTwoReadsInChannelsAndWritesPatchSquaredOutChannels) {
    Context ctx(test::context_options());
    const FluxCheckpoint original(kModel);
    const std::vector<float> expected = forward(ctx, FluxTransformer(ctx, original), original.config());

    const fs::path dir = with_config("\"out_channels\": null", "\"out_channels\": 4");
    {
        std::ifstream in(dir / "config.json");
        std::stringstream text;
        text << in.rdbuf();
        std::string config = text.str();
        config.replace(config.find("\"patch_size\": 1"), 15, "\"patch_size\": 2");
        std::ofstream(dir / "config.json") << config;
    }
    {  // closed before the folder goes: Windows deletes no mapped file
        const FluxCheckpoint patched(dir.string());
        EXPECT_EQ(patched.config().patch_size, 2);
        EXPECT_EQ(patched.config().input_features(), 16);
        EXPECT_EQ(patched.config().output_features(), 16);
        const FluxTransformer model(ctx, patched);
        EXPECT_EQ(forward(ctx, model, patched.config()), expected);
    }
    fs::remove_all(dir);
}

// out_channels given explicitly sizes proj_out; one that does not fit the
// stored proj_out is refused naming the tensor and both shapes.
TEST(FluxConfigSemantics, OutChannelsSizesProjOut) {
    Context ctx(test::context_options());
    const fs::path dir = with_config("\"out_channels\": null", "\"out_channels\": 8");
    try {
        const FluxTransformer model(ctx, FluxCheckpoint(dir.string()));
        ADD_FAILURE() << "a proj_out of 16 rows loaded under out_channels 8 (patch 1)";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SVDQ_ERROR_SHAPE_MISMATCH) << e.what();
        EXPECT_NE(std::string(e.what()).find("proj_out.weight"), std::string::npos) << e.what();
    }
    fs::remove_all(dir);
}

}  // namespace svdq
