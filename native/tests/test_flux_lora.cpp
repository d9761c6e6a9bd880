// LoRA files matched onto a FLUX transformer's linears (match_flux_lora): every
// module name of diffusers, BFL and kohya lands where diffusers' conversions
// put it, fused and split projections included, checked through what each
// linear's weight gains, scale * U D, against the file's scale * B A placed by
// hand in float64; unmatched keys, shape and family errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "formats/lora_file.h"
#include "lora_test_files.h"
#include "models/flux/flux_lora.h"

namespace {

using namespace svdq;
using namespace svdq::test;

constexpr int64_t d = 8;  // inner_dim of the test config
constexpr int64_t kIn = 12, kJoint = 20, kPooled = 10, kTimestep = 256;

FluxConfig test_config() {
    FluxConfig c;
    c.in_channels = kIn;
    c.out_channels = kIn;
    c.num_layers = 2;
    c.num_single_layers = 2;
    c.attention_head_dim = 4;
    c.num_attention_heads = 2;
    c.joint_attention_dim = kJoint;
    c.pooled_projection_dim = kPooled;
    c.guidance_embeds = true;
    c.axes_dims_rope = {2, 2, 0};
    return c;
}

// A dense [rows, cols] float64 matrix.
struct Matrix {
    int64_t rows = 0, cols = 0;
    std::vector<double> v;
    double& at(int64_t r, int64_t c) { return v[static_cast<size_t>(r * cols + c)]; }
};

// Where a block of the module's scale * B A lands in one of our linears.
struct Place {
    std::string layer;
    int64_t layer_out, layer_in;
    int64_t src_row, src_col, rows, cols, dst_row, dst_col;
};

struct ModuleCase {
    std::string name;  // without the key suffix
    int64_t out, in;
    std::vector<Place> places;
};

ModuleCase whole(const std::string& name, const std::string& layer, int64_t out, int64_t in) {
    return {name, out, in, {{layer, out, in, 0, 0, out, in, 0, 0}}};
}
// q, k or v (part 0, 1, 2): rows part * d of the fused [3d, d] linear.
ModuleCase qkv_part(const std::string& name, const std::string& layer, int64_t part) {
    return {name, d, d, {{layer, 3 * d, d, 0, 0, d, d, part * d, 0}}};
}
// BFL's linear1 [7d, d]: rows [q; k; v] onto qkv, [mlp] onto fc1.
ModuleCase linear1(const std::string& name, const std::string& block) {
    return {name, 7 * d, d, {{block + "qkv", 3 * d, d, 0, 0, 3 * d, d, 0, 0}, {block + "fc1", 4 * d, d, 3 * d, 0, 4 * d, d, 0, 0}}};
}
// A single block's proj_out / linear2 [d, 5d]: columns [attention] onto out, [mlp] onto fc2.
ModuleCase linear2(const std::string& name, const std::string& block) {
    return {name, d, 5 * d, {{block + "out", d, d, 0, 0, d, d, 0, 0}, {block + "fc2", d, 4 * d, 0, d, d, 4 * d, 0, 0}}};
}
// BFL's final adaLN rows (shift, scale) onto diffusers' norm_out.linear (scale, shift).
ModuleCase swapped_adaln(const std::string& name) {
    return {name, 2 * d, d,
            {{"norm_out.linear", 2 * d, d, d, 0, d, d, 0, 0}, {"norm_out.linear", 2 * d, d, 0, 0, d, d, d, 0}}};
}

struct Written {
    std::string path;
    std::map<std::string, Matrix> expected;      // what each linear's weight gains
    std::vector<std::string> defaulted_alpha;    // modules written without alpha
};

Matrix& layer_matrix(std::map<std::string, Matrix>& m, const std::string& layer, int64_t rows, int64_t cols) {
    Matrix& x = m[layer];
    if (x.v.empty()) x = {rows, cols, std::vector<double>(static_cast<size_t>(rows * cols), 0.0)};
    EXPECT_EQ(x.rows, rows) << layer;
    EXPECT_EQ(x.cols, cols) << layer;
    return x;
}

// Writes every module (rank 1..3; every other one with alpha, scale 0.5, 1 or
// 1.5) and places scale * B A, computed here in float64, as the cases say.
Written write_modules(const std::vector<ModuleCase>& modules, const std::string& down_suffix, const std::string& up_suffix,
                      const std::string& tag, int32_t dtype = SVDQ_DTYPE_F32) {
    LoraWriter w(dtype);
    Written out;
    for (size_t i = 0; i < modules.size(); ++i) {
        const ModuleCase& m = modules[i];
        const int64_t r = 1 + static_cast<int64_t>(i % 3);
        const std::vector<float> down = lora_values(r * m.in, 100 + 2 * i), up = lora_values(m.out * r, 101 + 2 * i);
        w.pair(m.name + down_suffix, m.name + up_suffix, down, up, r, m.in, m.out);
        double scale = 1.0;
        if (i % 2 == 0) {
            scale = 0.5 * static_cast<double>(1 + i % 3);
            w.scalar(m.name + ".alpha", static_cast<float>(scale * static_cast<double>(r)));
        } else {
            out.defaulted_alpha.push_back(m.name);
        }
        for (const Place& p : m.places) {
            Matrix& x = layer_matrix(out.expected, p.layer, p.layer_out, p.layer_in);
            for (int64_t a = 0; a < p.rows; ++a)
                for (int64_t b = 0; b < p.cols; ++b) {
                    double sum = 0.0;
                    for (int64_t k = 0; k < r; ++k)
                        sum += static_cast<double>(up[static_cast<size_t>((p.src_row + a) * r + k)]) *
                               static_cast<double>(down[static_cast<size_t>(k * m.in + p.src_col + b)]);
                    x.at(p.dst_row + a, p.dst_col + b) += scale * sum;
                }
        }
    }
    out.path = w.save(tag);
    return out;
}

// What the match adds to each linear's weight: sum of scale * U D, in float64.
std::map<std::string, Matrix> effective(const FluxLoraMatch& match) {
    std::map<std::string, Matrix> m;
    for (const FluxLoraLayerUpdate& u : match.updates) {
        const LowRankUpdate& x = u.update;
        EXPECT_GT(x.rank, 0) << u.layer;
        if (x.rank <= 0) continue;
        const int64_t out = static_cast<int64_t>(x.up.size()) / x.rank, in = static_cast<int64_t>(x.down.size()) / x.rank;
        EXPECT_EQ(static_cast<int64_t>(x.up.size()), out * x.rank) << u.layer;
        EXPECT_EQ(static_cast<int64_t>(x.down.size()), in * x.rank) << u.layer;
        Matrix& w = layer_matrix(m, u.layer, out, in);
        for (int64_t o = 0; o < out; ++o)
            for (int64_t j = 0; j < in; ++j) {
                double sum = 0.0;
                for (int64_t k = 0; k < x.rank; ++k)
                    sum += static_cast<double>(x.up[static_cast<size_t>(o * x.rank + k)]) *
                           static_cast<double>(x.down[static_cast<size_t>(k * in + j)]);
                w.at(o, j) += static_cast<double>(x.scale) * sum;
            }
    }
    return m;
}

// Same linears, same sizes, same gains (the values are exact in float: k/64
// times scales of 0.5, 1, 1.5, so the bound is float64 rounding only).
void expect_same_gains(const std::map<std::string, Matrix>& got, const std::map<std::string, Matrix>& want) {
    std::vector<std::string> got_layers, want_layers;
    for (const auto& [layer, m] : got) got_layers.push_back(layer);
    for (const auto& [layer, m] : want) want_layers.push_back(layer);
    ASSERT_EQ(got_layers, want_layers);
    for (const auto& [layer, w] : want) {
        const Matrix& g = got.at(layer);
        ASSERT_EQ(g.rows, w.rows) << layer;
        ASSERT_EQ(g.cols, w.cols) << layer;
        double diff = 0.0, scale = 0.0;
        for (size_t i = 0; i < w.v.size(); ++i) {
            diff = std::max(diff, std::fabs(g.v[i] - w.v[i]));
            scale = std::max(scale, std::fabs(w.v[i]));
        }
        EXPECT_GT(scale, 0.0) << layer;
        EXPECT_LE(diff, 1e-12 * scale) << layer << ": max |difference| " << diff << " of max " << scale;
    }
}

std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}

void expect_matches(const Written& file, size_t modules) {
    const LoraFile lora = read_lora_file(file.path);
    const FluxLoraMatch match = match_flux_lora(lora, test_config());
    EXPECT_EQ(match.matched_modules, static_cast<int32_t>(modules));
    EXPECT_TRUE(match.unmatched_keys.empty()) << match.unmatched_keys.size() << " unmatched, first: " << match.unmatched_keys[0];
    EXPECT_EQ(sorted(match.defaulted_alpha), sorted(file.defaulted_alpha));
    expect_same_gains(effective(match), file.expected);
}

std::vector<ModuleCase> diffusers_modules(const std::string& prefix) {
    const std::string b = "transformer_blocks.1.", s = "single_transformer_blocks.0.";
    return {
        whole(prefix + b + "norm1.linear", b + "norm1", 6 * d, d),
        whole(prefix + b + "norm1_context.linear", b + "norm1_context", 6 * d, d),
        qkv_part(prefix + b + "attn.to_q", b + "qkv", 0),
        qkv_part(prefix + b + "attn.to_k", b + "qkv", 1),
        qkv_part(prefix + b + "attn.to_v", b + "qkv", 2),
        qkv_part(prefix + b + "attn.add_q_proj", b + "qkv_context", 0),
        qkv_part(prefix + b + "attn.add_k_proj", b + "qkv_context", 1),
        qkv_part(prefix + b + "attn.add_v_proj", b + "qkv_context", 2),
        whole(prefix + b + "attn.to_out.0", b + "out", d, d),
        whole(prefix + b + "attn.to_add_out", b + "out_context", d, d),
        whole(prefix + b + "ff.net.0.proj", b + "fc1", 4 * d, d),
        whole(prefix + b + "ff.net.2", b + "fc2", d, 4 * d),
        whole(prefix + b + "ff_context.net.0.proj", b + "context_fc1", 4 * d, d),
        whole(prefix + b + "ff_context.net.2", b + "context_fc2", d, 4 * d),
        whole(prefix + s + "norm.linear", s + "norm", 3 * d, d),
        qkv_part(prefix + s + "attn.to_q", s + "qkv", 0),
        qkv_part(prefix + s + "attn.to_k", s + "qkv", 1),
        qkv_part(prefix + s + "attn.to_v", s + "qkv", 2),
        whole(prefix + s + "proj_mlp", s + "fc1", 4 * d, d),
        linear2(prefix + s + "proj_out", s),
        whole(prefix + "x_embedder", "x_embedder", d, kIn),
        whole(prefix + "context_embedder", "context_embedder", d, kJoint),
        whole(prefix + "time_text_embed.timestep_embedder.linear_1", "time_text_embed.timestep_embedder.linear_1", d, kTimestep),
        whole(prefix + "time_text_embed.timestep_embedder.linear_2", "time_text_embed.timestep_embedder.linear_2", d, d),
        whole(prefix + "time_text_embed.text_embedder.linear_1", "time_text_embed.text_embedder.linear_1", d, kPooled),
        whole(prefix + "time_text_embed.text_embedder.linear_2", "time_text_embed.text_embedder.linear_2", d, d),
        whole(prefix + "time_text_embed.guidance_embedder.linear_1", "time_text_embed.guidance_embedder.linear_1", d, kTimestep),
        whole(prefix + "time_text_embed.guidance_embedder.linear_2", "time_text_embed.guidance_embedder.linear_2", d, d),
        whole(prefix + "norm_out.linear", "norm_out.linear", 2 * d, d),  // diffusers' own order: no swap
        whole(prefix + "proj_out", "proj_out", kIn, d),
    };
}

// BFL's module names (flux/model.py), as diffusers' conversions map them.
std::vector<ModuleCase> bfl_modules(const std::string& prefix) {
    const std::string b = "transformer_blocks.0.", s = "single_transformer_blocks.1.";
    const std::string db = prefix + "double_blocks.0.", sb = prefix + "single_blocks.1.";
    return {
        whole(db + "img_mod.lin", b + "norm1", 6 * d, d),
        whole(db + "txt_mod.lin", b + "norm1_context", 6 * d, d),
        whole(db + "img_attn.qkv", b + "qkv", 3 * d, d),
        whole(db + "txt_attn.qkv", b + "qkv_context", 3 * d, d),
        whole(db + "img_attn.proj", b + "out", d, d),
        whole(db + "txt_attn.proj", b + "out_context", d, d),
        whole(db + "img_mlp.0", b + "fc1", 4 * d, d),
        whole(db + "img_mlp.2", b + "fc2", d, 4 * d),
        whole(db + "txt_mlp.0", b + "context_fc1", 4 * d, d),
        whole(db + "txt_mlp.2", b + "context_fc2", d, 4 * d),
        whole(sb + "modulation.lin", s + "norm", 3 * d, d),
        linear1(sb + "linear1", s),
        linear2(sb + "linear2", s),
        whole(prefix + "img_in", "x_embedder", d, kIn),
        whole(prefix + "txt_in", "context_embedder", d, kJoint),
        whole(prefix + "time_in.in_layer", "time_text_embed.timestep_embedder.linear_1", d, kTimestep),
        whole(prefix + "time_in.out_layer", "time_text_embed.timestep_embedder.linear_2", d, d),
        whole(prefix + "vector_in.in_layer", "time_text_embed.text_embedder.linear_1", d, kPooled),
        whole(prefix + "vector_in.out_layer", "time_text_embed.text_embedder.linear_2", d, d),
        whole(prefix + "guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1", d, kTimestep),
        whole(prefix + "guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2", d, d),
        whole(prefix + "final_layer.linear", "proj_out", kIn, d),
        swapped_adaln(prefix + "final_layer.adaLN_modulation.1"),
    };
}

TEST(FluxLora, DiffusersNamesLandOnOurLinears) {
    const std::vector<ModuleCase> modules = diffusers_modules("transformer.");
    expect_matches(write_modules(modules, ".lora_A.weight", ".lora_B.weight", "diffusers"), modules.size());
}

TEST(FluxLora, DiffusersNamesWithoutPrefixAndPeftNamesLandOnOurLinears) {
    const std::vector<ModuleCase> bare = diffusers_modules("");
    expect_matches(write_modules(bare, ".lora_A.weight", ".lora_B.weight", "bare", SVDQ_DTYPE_BF16), bare.size());
    const std::vector<ModuleCase> peft = diffusers_modules("base_model.model.");
    expect_matches(write_modules(peft, ".lora_A.default.weight", ".lora_B.default.weight", "peft", SVDQ_DTYPE_F16), peft.size());
}

TEST(FluxLora, BflNamesLandOnOurLinears) {
    const std::vector<ModuleCase> modules = bfl_modules("");
    expect_matches(write_modules(modules, ".lora_A.weight", ".lora_B.weight", "bfl"), modules.size());
    const std::vector<ModuleCase> comfy = bfl_modules("diffusion_model.");
    expect_matches(write_modules(comfy, ".lora_down.weight", ".lora_up.weight", "comfyui"), comfy.size());
}

// kohya's sd-scripts: BFL names after lora_unet_ and diffusers names after
// lora_transformer_, dots written as underscores; both read as their vocabulary
// says (norm_out unswapped under lora_transformer_, swapped under lora_unet_).
TEST(FluxLora, KohyaNamesLandOnOurLinears) {
    std::vector<ModuleCase> modules;
    for (ModuleCase m : bfl_modules("")) {
        std::replace(m.name.begin(), m.name.end(), '.', '_');
        m.name = "lora_unet_" + m.name;
        modules.push_back(m);
    }
    for (ModuleCase m : diffusers_modules("")) {
        if (m.name.find("transformer_blocks.1.") == std::string::npos && m.name.find("norm_out") == std::string::npos &&
            m.name.find("guidance_embedder.linear_2") == std::string::npos)
            continue;
        std::replace(m.name.begin(), m.name.end(), '.', '_');
        m.name = "lora_transformer_" + m.name;
        modules.push_back(m);
    }
    EXPECT_EQ(modules.size(), 23u + 14u + 2u);
    expect_matches(write_modules(modules, ".lora_down.weight", ".lora_up.weight", "kohya", SVDQ_DTYPE_BF16), modules.size());
}

// q and k of one block with the same alpha / rank: one update whose down is
// [A_q; A_k] and up is block-diagonal, zero rows where v has no LoRA.
TEST(FluxLora, SeparateQkvFuseIntoOneBlockDiagonalUpdate) {
    const std::vector<float> aq = lora_values(2 * d, 1), bq = lora_values(d * 2, 2), ak = lora_values(2 * d, 3),
                             bk = lora_values(d * 2, 4);
    LoraWriter w;
    w.pair("transformer_blocks.0.attn.to_q.lora_A.weight", "transformer_blocks.0.attn.to_q.lora_B.weight", aq, bq, 2, d, d);
    w.pair("transformer_blocks.0.attn.to_k.lora_A.weight", "transformer_blocks.0.attn.to_k.lora_B.weight", ak, bk, 2, d, d);
    w.scalar("transformer_blocks.0.attn.to_q.alpha", 4.0f);
    w.scalar("transformer_blocks.0.attn.to_k.alpha", 4.0f);
    const FluxLoraMatch match = match_flux_lora(read_lora_file(w.save("qk")), test_config());
    ASSERT_EQ(match.updates.size(), 1u);
    EXPECT_EQ(match.matched_modules, 2);
    const FluxLoraLayerUpdate& u = match.updates[0];
    EXPECT_EQ(u.layer, "transformer_blocks.0.qkv");
    EXPECT_EQ(u.update.rank, 4);
    EXPECT_EQ(u.update.scale, 2.0f) << "alpha / rank, shared by q and k";
    std::vector<float> down = aq;
    down.insert(down.end(), ak.begin(), ak.end());
    EXPECT_EQ(u.update.down, down);
    std::vector<float> up(static_cast<size_t>(3 * d * 4), 0.0f);
    for (int64_t o = 0; o < d; ++o)
        for (int64_t r = 0; r < 2; ++r) {
            up[static_cast<size_t>(o * 4 + r)] = bq[static_cast<size_t>(o * 2 + r)];
            up[static_cast<size_t>((d + o) * 4 + 2 + r)] = bk[static_cast<size_t>(o * 2 + r)];
        }
    EXPECT_EQ(u.update.up, up);
}

// Two modules for the q of one block (with and without the transformer.
// prefix) both apply: the second starts a second fused update.
TEST(FluxLora, TwoModulesForOnePartMakeTwoUpdates) {
    const std::vector<ModuleCase> modules{
        qkv_part("transformer.transformer_blocks.0.attn.to_q", "transformer_blocks.0.qkv", 0),
        qkv_part("transformer_blocks.0.attn.to_k", "transformer_blocks.0.qkv", 1),
        qkv_part("transformer_blocks.0.attn.to_q", "transformer_blocks.0.qkv", 0),
    };
    const Written file = write_modules(modules, ".lora_A.weight", ".lora_B.weight", "twice");
    EXPECT_EQ(match_flux_lora(read_lora_file(file.path), test_config()).updates.size(), 2u);
    expect_matches(file, modules.size());
}

TEST(FluxLora, ListsEveryUnmatchedKey) {
    LoraWriter w;
    const auto module = [&](const std::string& name, int64_t out, int64_t in, bool alpha) {
        w.pair(name + ".lora_down.weight", name + ".lora_up.weight", lora_values(2 * in, 7), lora_values(out * 2, 8), 2, in, out);
        if (alpha) w.scalar(name + ".alpha", 1.0f);
    };
    module("lora_unet_double_blocks_0_img_attn_proj", d, d, false);           // matches, alpha defaulted
    module("lora_unet_single_blocks_1_linear2", d, 5 * d, true);               // matches
    module("lora_unet_double_blocks_7_img_attn_proj", d, d, true);             // a block this model lacks
    module("lora_te1_text_model_encoder_layers_0_mlp_fc1", 6, 4, true);        // the text encoder
    module("lora_unet_double_blocks_0_img_attn_norm_query_norm", d, d, false); // not a linear
    w.tensor("lora_unet_double_blocks_0_img_attn_proj.dora_scale", {1, d}, lora_values(d, 9));
    w.scalar("lora_unet_txt_in.alpha", 3.0f);
    const FluxLoraMatch match = match_flux_lora(read_lora_file(w.save("unmatched")), test_config());
    EXPECT_EQ(match.matched_modules, 2);
    EXPECT_EQ(match.updates.size(), 3u);  // proj; linear2 as out and fc2
    EXPECT_EQ(match.unmatched_keys, (std::vector<std::string>{
                                        "lora_te1_text_model_encoder_layers_0_mlp_fc1.alpha",
                                        "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight",
                                        "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_up.weight",
                                        "lora_unet_double_blocks_0_img_attn_norm_query_norm.lora_down.weight",
                                        "lora_unet_double_blocks_0_img_attn_norm_query_norm.lora_up.weight",
                                        "lora_unet_double_blocks_0_img_attn_proj.dora_scale",
                                        "lora_unet_double_blocks_7_img_attn_proj.alpha",
                                        "lora_unet_double_blocks_7_img_attn_proj.lora_down.weight",
                                        "lora_unet_double_blocks_7_img_attn_proj.lora_up.weight",
                                        "lora_unet_txt_in.alpha",
                                    }));
    EXPECT_EQ(match.defaulted_alpha, std::vector<std::string>{"lora_unet_double_blocks_0_img_attn_proj"});
}

// Without guidance_embeds the guidance embedder's LoRA changes nothing: listed, not an error.
TEST(FluxLora, GuidanceLoraOnAModelWithoutGuidanceIsUnmatched) {
    FluxConfig schnell = test_config();
    schnell.guidance_embeds = false;
    LoraWriter w;
    w.pair("guidance_in.in_layer.lora_A.weight", "guidance_in.in_layer.lora_B.weight", lora_values(kTimestep, 1),
           lora_values(d, 2), 1, kTimestep, d);
    w.pair("img_in.lora_A.weight", "img_in.lora_B.weight", lora_values(kIn, 3), lora_values(d, 4), 1, kIn, d);
    const FluxLoraMatch match = match_flux_lora(read_lora_file(w.save("schnell")), schnell);
    EXPECT_EQ(match.matched_modules, 1);
    EXPECT_EQ(match.unmatched_keys,
              (std::vector<std::string>{"guidance_in.in_layer.lora_A.weight", "guidance_in.in_layer.lora_B.weight"}));
}

TEST(FluxLora, ShapeMismatchNamesKeyExpectedAndFound) {
    LoraWriter in;
    in.pair("transformer.x_embedder.lora_A.weight", "transformer.x_embedder.lora_B.weight", lora_values(2 * 64, 1),
            lora_values(d * 2, 2), 2, 64, d);
    const LoraFile wide = read_lora_file(in.save("in"));
    expect_svdq_error([&] { match_flux_lora(wide, test_config()); }, SVDQ_ERROR_SHAPE_MISMATCH,
                      {"'transformer.x_embedder.lora_A.weight'", "[2, 64]", "'x_embedder'", "expects [2, 12]"});

    LoraWriter out;
    out.pair("lora_unet_single_blocks_0_linear1.lora_down.weight", "lora_unet_single_blocks_0_linear1.lora_up.weight",
             lora_values(3 * d, 1), lora_values(6 * d * 3, 2), 3, d, 6 * d);
    const LoraFile short_linear1 = read_lora_file(out.save("out"));
    expect_svdq_error([&] { match_flux_lora(short_linear1, test_config()); }, SVDQ_ERROR_SHAPE_MISMATCH,
                      {"'lora_unet_single_blocks_0_linear1.lora_up.weight'", "[48, 3]", "single_transformer_blocks.0.qkv",
                       "single_transformer_blocks.0.fc1", "expects [56, 3]"});

    LoraWriter q;  // a FLUX.1-dev-sized q on the small model
    q.pair("transformer.transformer_blocks.0.attn.to_q.lora_A.weight", "transformer.transformer_blocks.0.attn.to_q.lora_B.weight",
           lora_values(4 * 3072, 1), lora_values(3072 * 4, 2), 4, 3072, 3072);
    const LoraFile dev = read_lora_file(q.save("dev"));
    expect_svdq_error([&] { match_flux_lora(dev, test_config()); }, SVDQ_ERROR_SHAPE_MISMATCH,
                      {"'transformer.transformer_blocks.0.attn.to_q.lora_A.weight'", "[4, 3072]", "transformer_blocks.0.qkv",
                       "q rows", "expects [4, 8]"});
}

TEST(FluxLora, SdxlLoraIsNamedAsAnotherFamily) {
    LoraWriter w;
    w.tensor("lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight", {2, 3, 3, 3}, lora_values(54, 1));
    w.tensor("lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight", {5, 2, 1, 1}, lora_values(10, 2));
    w.pair("lora_unet_mid_block_attentions_0_proj_in.lora_down.weight", "lora_unet_mid_block_attentions_0_proj_in.lora_up.weight",
           lora_values(8, 3), lora_values(8, 4), 2, 4, 4);
    w.pair("lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight",
           "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_up.weight", lora_values(8, 5), lora_values(8, 6), 2, 4, 4);
    const LoraFile sdxl = read_lora_file(w.save("sdxl"));
    expect_svdq_error([&] { match_flux_lora(sdxl, test_config()); }, SVDQ_ERROR_FORMAT,
                      {"another model family", "lora_unet_down_blocks_0_resnets_0_conv1", "6 keys"});

    LoraWriter te;
    te.pair("lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight",
            "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_up.weight", lora_values(8, 5), lora_values(8, 6), 2, 4, 4);
    const LoraFile clip = read_lora_file(te.save("clip"));
    expect_svdq_error([&] { match_flux_lora(clip, test_config()); }, SVDQ_ERROR_FORMAT, {"text encoder only", "lora_te1_"});

    LoraWriter other;
    other.pair("blocks.0.mystery.lora_A.weight", "blocks.0.mystery.lora_B.weight", lora_values(8, 5), lora_values(8, 6), 2, 4, 4);
    const LoraFile unknown = read_lora_file(other.save("unknown"));
    expect_svdq_error([&] { match_flux_lora(unknown, test_config()); }, SVDQ_ERROR_FORMAT,
                      {"no key of the LoRA matches", "'blocks.0.mystery.lora_A.weight'", "2 keys"});
}

// Every linear of the model with the sizes diffusers gives it, in model order.
TEST(FluxLora, LinearSlotsFollowTheModel) {
    const std::vector<FluxLinearSlot> slots = flux_linear_slots(test_config());
    std::map<std::string, std::pair<int64_t, int64_t>> want{
        {"time_text_embed.timestep_embedder.linear_1", {kTimestep, d}},
        {"time_text_embed.timestep_embedder.linear_2", {d, d}},
        {"time_text_embed.text_embedder.linear_1", {kPooled, d}},
        {"time_text_embed.text_embedder.linear_2", {d, d}},
        {"time_text_embed.guidance_embedder.linear_1", {kTimestep, d}},
        {"time_text_embed.guidance_embedder.linear_2", {d, d}},
        {"x_embedder", {kIn, d}},
        {"context_embedder", {kJoint, d}},
        {"norm_out.linear", {d, 2 * d}},
        {"proj_out", {d, kIn}},
    };
    for (const char* b : {"transformer_blocks.0.", "transformer_blocks.1."}) {
        const std::string p = b;
        for (const auto& [name, io] : std::map<std::string, std::pair<int64_t, int64_t>>{
                 {"norm1", {d, 6 * d}}, {"norm1_context", {d, 6 * d}}, {"qkv", {d, 3 * d}}, {"qkv_context", {d, 3 * d}},
                 {"out", {d, d}}, {"out_context", {d, d}}, {"fc1", {d, 4 * d}}, {"fc2", {4 * d, d}},
                 {"context_fc1", {d, 4 * d}}, {"context_fc2", {4 * d, d}}})
            want[p + name] = io;
    }
    for (const char* b : {"single_transformer_blocks.0.", "single_transformer_blocks.1."}) {
        const std::string p = b;
        for (const auto& [name, io] : std::map<std::string, std::pair<int64_t, int64_t>>{
                 {"norm", {d, 3 * d}}, {"qkv", {d, 3 * d}}, {"out", {d, d}}, {"fc1", {d, 4 * d}}, {"fc2", {4 * d, d}}})
            want[p + name] = io;
    }
    ASSERT_EQ(slots.size(), want.size());
    for (const FluxLinearSlot& s : slots) {
        ASSERT_TRUE(want.count(s.name)) << s.name;
        EXPECT_EQ(s.in_features, want[s.name].first) << s.name;
        EXPECT_EQ(s.out_features, want[s.name].second) << s.name;
    }
    EXPECT_EQ(slots.front().name, "time_text_embed.timestep_embedder.linear_1");
    EXPECT_EQ(slots[8].name, "transformer_blocks.0.norm1");
    EXPECT_EQ(slots.back().name, "proj_out");

    FluxConfig schnell = test_config();
    schnell.guidance_embeds = false;
    EXPECT_EQ(flux_linear_slots(schnell).size(), want.size() - 2);
}

TEST(FluxLora, RecognisesFluxModuleNamesOfItsStyle) {
    EXPECT_TRUE(is_flux_lora_module("transformer.single_transformer_blocks.37.attn.to_v", LoraKeyStyle::diffusers));
    EXPECT_TRUE(is_flux_lora_module("time_text_embed.guidance_embedder.linear_2", LoraKeyStyle::diffusers));
    EXPECT_TRUE(is_flux_lora_module("double_blocks.18.txt_mlp.2", LoraKeyStyle::bfl));
    EXPECT_TRUE(is_flux_lora_module("diffusion_model.final_layer.adaLN_modulation.1", LoraKeyStyle::bfl));
    EXPECT_TRUE(is_flux_lora_module("lora_unet_single_blocks_12_modulation_lin", LoraKeyStyle::kohya));
    EXPECT_TRUE(is_flux_lora_module("lora_transformer_transformer_blocks_3_attn_add_v_proj", LoraKeyStyle::kohya));
    EXPECT_FALSE(is_flux_lora_module("double_blocks.0.img_attn.qkv", LoraKeyStyle::diffusers)) << "a BFL name read as diffusers";
    EXPECT_FALSE(is_flux_lora_module("transformer_blocks.0.attn.to_q", LoraKeyStyle::bfl));
    EXPECT_FALSE(is_flux_lora_module("lora_unet_transformer_blocks_0_attn_to_q", LoraKeyStyle::kohya));
    EXPECT_FALSE(is_flux_lora_module("lora_unet_down_blocks_0_attentions_0_proj_in", LoraKeyStyle::kohya));
    EXPECT_FALSE(is_flux_lora_module("transformer_blocks.0.attn.to_q_extra", LoraKeyStyle::diffusers));
    EXPECT_FALSE(is_flux_lora_module("transformer_blocks.x.attn.to_q", LoraKeyStyle::diffusers));
    EXPECT_FALSE(is_flux_lora_module("transformer_blocks.00.attn.to_q", LoraKeyStyle::diffusers));
    EXPECT_FALSE(is_flux_lora_module("unet.down_blocks.0.attentions.0.proj_in", LoraKeyStyle::diffusers));
}

}  // namespace
