// svdquant_format_fixtures [GoogleTest flags] OUT_DIR: writes small quantized
// FLUX checkpoints (flux-tiny's shape, block linears of known values; see
// nunchaku_flux_fixture.h) for trying `svdquant inspect` or `svdquant flux
// forward` by hand, and checks each one as those commands read it:
//   nunchaku-reference-int4.safetensors   built to Nunchaku's published layout by the
//                                         independent reference packer (v0 names)
//   svdquant-int4.safetensors             written by the engine's Nunchaku writer (v0 names)
//   svdquant-nvfp4-diffusers.safetensors  the same in NVFP4 with diffusers-style names
// CTest runs it into the build tree (native/tests/fixtures).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "formats/checkpoint_flavour.h"
#include "nunchaku_flux_fixture.h"

namespace {

using namespace svdq;
using namespace svdq::test;

std::string g_out_dir;

struct Fixture {
    const char* file;
    FluxFixtureOptions options;
    int32_t flavour, format, keys;
};

class FormatFixture : public testing::TestWithParam<Fixture> {};

TEST_P(FormatFixture, InspectsLoadsAndComputesItsKnownValues) {
    const Fixture f = GetParam();
    const std::string path = g_out_dir + "/" + f.file;
    const std::vector<KnownLinear> known = write_flux_fixture(path, f.options);

    const CheckpointInfo info = inspect_checkpoint(SafeTensorsFile(path));
    EXPECT_EQ(info.flavour, f.flavour);
    EXPECT_EQ(info.format, f.format);
    EXPECT_EQ(info.keys, f.keys);
    EXPECT_EQ(info.rank, 32);
    EXPECT_EQ(info.w4a4_layers, 2 * 8 + 2 * 4);   // double blocks: 8 W4A4 layers each, single blocks 4
    EXPECT_EQ(info.w4a16_layers, 2 * 2 + 2 * 1);  // adaLN modulation linears

    expect_flux_fixture_computes_its_known_values(path, known);
}

INSTANTIATE_TEST_SUITE_P(
    Files, FormatFixture,
    testing::Values(Fixture{"nunchaku-reference-int4.safetensors", {FluxFileStyle::Reference, false, false},
                            SVDQ_FLAVOUR_NUNCHAKU_INT4_V0, SVDQ_FORMAT_INT4, SVDQ_KEYS_NUNCHAKU_V0},
                    Fixture{"svdquant-int4.safetensors", {FluxFileStyle::OursV0, false, false}, SVDQ_FLAVOUR_SVDQUANT,
                            SVDQ_FORMAT_INT4, SVDQ_KEYS_NUNCHAKU_V0},
                    Fixture{"svdquant-nvfp4-diffusers.safetensors", {FluxFileStyle::OursDiffusers, true, false},
                            SVDQ_FLAVOUR_SVDQUANT, SVDQ_FORMAT_NVFP4, SVDQ_KEYS_DIFFUSERS}),
    [](const testing::TestParamInfo<Fixture>& info) {
        std::string name = info.param.file;
        name = name.substr(0, name.find('.'));
        for (char& c : name)
            if (c == '-') c = '_';
        return name;
    });

}  // namespace

int main(int argc, char** argv) {
    testing::InitGoogleTest(&argc, argv);  // takes the GoogleTest flags out of argv
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s [GoogleTest flags] OUT_DIR\n", argv[0]);
        return 2;
    }
    g_out_dir = argv[1];
    return RUN_ALL_TESTS();
}
