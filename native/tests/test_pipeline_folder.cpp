// pipeline_component: a loader given a component (its folder or a file) or
// the whole diffusers pipeline folder finds the component, and a folder that
// is neither is named with what it lacks.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "formats/pipeline_folder.h"

namespace {

using namespace svdq;
namespace fs = std::filesystem;

class PipelineFolderTest : public testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::path(testing::TempDir()) / ("svdq_pipeline_" + std::string(testing::UnitTest::GetInstance()->current_test_info()->name()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string make(const std::string& relative) const {
        const fs::path p = dir_ / relative;
        fs::create_directories(p.parent_path());
        std::ofstream(p) << "{}";
        return p.string();
    }
    std::string folder(const std::string& relative) const { return (dir_ / relative).string(); }

    static std::string failure(const std::string& path, const std::string& component) {
        try {
            pipeline_component(path, component);
        } catch (const Error& e) {
            EXPECT_EQ(e.status(), SVDQ_ERROR_IO);
            return e.what();
        }
        ADD_FAILURE() << path << " was accepted";
        return "";
    }

    fs::path dir_;
};

TEST_F(PipelineFolderTest, TheComponentItselfIsTakenAsGiven) {
    const std::string file = make("t5.safetensors");
    make("vae/config.json");
    EXPECT_EQ(pipeline_component(file, "text_encoder_2"), file);
    EXPECT_EQ(pipeline_component(folder("vae"), "vae"), folder("vae"));
    EXPECT_EQ(pipeline_component(folder("absent"), "vae"), folder("absent")) << "the loader names what is missing";
}

TEST_F(PipelineFolderTest, APipelineFolderGivesItsComponent) {
    make("pipe/model_index.json");
    make("pipe/transformer/config.json");
    EXPECT_EQ(pipeline_component(folder("pipe"), "transformer"), (fs::path(folder("pipe")) / "transformer").string());
    EXPECT_NE(failure(folder("pipe"), "vae").find(folder("pipe") + ": a pipeline folder (model_index.json) without vae/"), std::string::npos);
}

TEST_F(PipelineFolderTest, AFolderThatIsNeitherIsNamedWithWhatItLacks) {
    fs::create_directories(folder("empty"));
    EXPECT_NE(failure(folder("empty"), "transformer")
                  .find(folder("empty") + ": no transformer/ folder and no config.json (a transformer folder, or a pipeline folder with transformer/)"),
              std::string::npos);
}

}  // namespace
