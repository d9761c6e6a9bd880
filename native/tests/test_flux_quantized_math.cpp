// A quantized FLUX file (what `svdquant quantize` writes for flux-tiny) held
// to what it must hold and compute, block by block:
// - its blocks equal, bit for bit, the quantizer's own layers kept in memory
//   (nothing is lost or changed on the way through the file);
//   (nothing is lost or changed on the way through the file, and
//   quantize_flux calibrates each block as described in flux_quantizer.h);
// - every quantized linear inside a block run (W4A4, and the W4A16 adaLN)
//   matches a float64 replay of the method from the values the file stores
//   (w4a4_replay_reference.h).
// Together they catch a lost branch, smoothing or bias, a wrong or missing
// mlp_fc2 shift, adaLN rows left interleaved or a transposed weight exactly,
// where the whole-model bounds of test_flux.cpp see only the large ones.
#include <gtest/gtest.h>

#include <cstdio>
#include <algorithm>
#include <functional>
#include <map>
#include <type_traits>

#include "backend/backend.h"
#include "backend/context.h"
#include "cpu_levels.h"
#include "core/half.h"
#include "formats/safetensors_file.h"
#include "models/flux/flux_input_set.h"
#include "models/flux/flux_ops.h"
#include "models/flux/flux_quantizer.h"
#include "models/flux/flux_transformer.h"
#include "formats/nunchaku_linear.h"
#include "formats/nunchaku_w4a16_linear.h"
#include "core/numerics/int4.h"
#include "quant/quantizer.h"
#include "flux_tiny_quantized.h"
#include "test_util.h"
#include "w4a4_replay_reference.h"

namespace svdq {

namespace {

const std::string kModel = std::string(SVDQ_TEST_DATA_DIR) + "/flux-tiny";

QuantizerOptions svdquant_r16() {
    QuantizerOptions o;
    o.rank = 16;
    return o;
}

FluxInputSet tiny_inputs(const FluxConfig& config) { return read_flux_inputs(SafeTensorsFile(kModel + "/inputs.safetensors"), config); }

// An embedding's states copied to host vectors, so several runs can start
// from the same states (the CPU backend reads host memory as views).
struct HostStates {
    int64_t d = 0, head_dim = 0;
    std::vector<float> silu_temb, x, c, cos, sin;

    static std::vector<float> values(Context& ctx, const TensorView& v) {
        std::vector<float> host(static_cast<size_t>(v.numel()));
        ctx.backend().download(v, host.data());
        return host;
    }
    static TensorView view(std::vector<float>& v, int64_t cols) {
        return TensorView::host(v.data(), static_cast<int64_t>(v.size()) / cols, cols);
    }
    TensorView temb() { return view(silu_temb, d); }
    TensorView image() { return view(x, d); }
    TensorView text() { return view(c, d); }
    FluxRope rope() { return {view(cos, head_dim), view(sin, head_dim)}; }
};

HostStates embed_on_host(Context& ctx, FluxLayerLoader& load, const FluxConfig& config, const FluxInputs& in) {
    const Arena::Scope scope(ctx.arena());
    const FluxEmbedded e = FluxEmbeddings(load).embed({ctx, {}, AttentionPrecision::fp32}, config, in, {});
    return {config.inner_dim(), config.attention_head_dim, HostStates::values(ctx, e.silu_temb), HostStates::values(ctx, e.x), HostStates::values(ctx, e.c),
            HostStates::values(ctx, e.rope.cos), HostStates::values(ctx, e.rope.sin)};
}

// The joint sequence of the single blocks: text rows first per batch item.
std::vector<float> joint_rows(const std::vector<float>& x, const std::vector<float>& c, const FluxTokens& t, int64_t d) {
    std::vector<float> h(static_cast<size_t>(t.batch * t.joint() * d));
    for (int64_t b = 0; b < t.batch; ++b) {
        std::copy_n(c.begin() + b * t.txt * d, t.txt * d, h.begin() + b * t.joint() * d);
        std::copy_n(x.begin() + b * t.img * d, t.img * d, h.begin() + (b * t.joint() + t.txt) * d);
    }
    return h;
}

std::vector<float> image_rows(const std::vector<float>& h, const FluxTokens& t, int64_t d) {
    std::vector<float> x(static_cast<size_t>(t.batch * t.img * d));
    for (int64_t b = 0; b < t.batch; ++b) std::copy_n(h.begin() + (b * t.joint() + t.txt) * d, t.img * d, x.begin() + b * t.img * d);
    return x;
}

struct FluxBlocks {
    std::vector<FluxDoubleBlock> doubles;
    std::vector<FluxSingleBlock> singles;

    explicit FluxBlocks(FluxLayerLoader& load) {
        for (int64_t i = 0; i < load.checkpoint().config().num_layers; ++i) doubles.emplace_back(load, i);
        for (int64_t i = 0; i < load.checkpoint().config().num_single_layers; ++i) singles.emplace_back(load, i);
    }
};

// The states after every block, named as FluxTransformer's trace names them.
using BlockStates = std::vector<std::pair<std::string, std::vector<float>>>;

BlockStates run_blocks(Context& ctx, const FluxConfig& config, const FluxTokens& t, HostStates e, const FluxBlocks& blocks,
                       const LinearInputHook& hook = {}) {
    const FluxRun run{ctx, hook, AttentionPrecision::fp32};  // the replay is float64
    const int64_t d = config.inner_dim();
    BlockStates states;
    for (size_t i = 0; i < blocks.doubles.size(); ++i) {
        blocks.doubles[i].forward(run, e.temb(), t, e.rope(), e.image(), e.text());
        states.emplace_back(FluxDoubleBlock::prefix(static_cast<int64_t>(i)) + "hidden_states", e.x);
        states.emplace_back(FluxDoubleBlock::prefix(static_cast<int64_t>(i)) + "encoder_hidden_states", e.c);
    }
    std::vector<float> h = joint_rows(e.x, e.c, t, d);
    for (size_t i = 0; i < blocks.singles.size(); ++i) {
        blocks.singles[i].forward(run, e.temb(), t, e.rope(), HostStates::view(h, d));
        states.emplace_back(FluxSingleBlock::prefix(static_cast<int64_t>(i)) + "hidden_states", image_rows(h, t, d));
    }
    return states;
}

// Nunchaku's INT4 mlp_fc2 (DESIGN.md section 4): the input is shifted by
// 0.171875 and quantized unsigned, the branch reads it unshifted, and the
// bias absorbs the shift: bias[n] -= shift * sum_k Q(R)[n, k] / smooth[k].
void shift_fc2_input(LinearWeights& w, ThreadPool& pool) {
    constexpr float kShift = 0.171875f;
    Int4Matrix q = quantize_int4(smoothed_residual(w, pool).data(), w.n, w.k, pool);
    for (int64_t n = 0; n < w.n; ++n) {
        double sum = 0.0;
        for (int64_t k = 0; k < w.k; ++k) sum += static_cast<double>(q.value(n, k)) / static_cast<double>(w.smooth[static_cast<size_t>(k)]);
        w.bias[static_cast<size_t>(n)] -= static_cast<float>(kShift * sum);
    }
    w.quantized_residual = std::move(q);
    w.input_shift = kShift;
    w.unsigned_input = true;
}

// Replaces a float block's linears by what the quantizer makes of them in
// memory, their float parts rounded as the file stores them (BF16; the adaLN
// bias holds +1 on the scale chunks in the file). `run_float` runs the float
// block over the calibration states, advancing them, as quantize_flux does.
template <typename Block>
void quantize_in_memory(Context& ctx, const FluxLayerLoader& load, int64_t index, Block& block,
                        const std::function<void(const Block&, const LinearInputHook&)>& run_float, const QuantizerOptions& o) {
    const BlockLayout<Block>& layout = Block::layout();
    const std::string prefix = Block::prefix(index);
    std::map<const Linear*, size_t> group_of;
    for (size_t g = 0; g < layout.input_groups.size(); ++g) group_of[&(block.*layout.linears[layout.input_groups[g].front()].slot)] = g;
    std::vector<std::vector<float>> inputs(layout.input_groups.size());
    run_float(block, [&](const Linear& layer, const std::vector<float>& x, int64_t) {
        if (const auto it = group_of.find(&layer); it != group_of.end()) inputs[it->second].insert(inputs[it->second].end(), x.begin(), x.end());
    });

    std::vector<bool> quantized(layout.linears.size(), false);
    for (size_t g = 0; g < layout.input_groups.size(); ++g) {
        std::vector<LayerToQuantize> layers;
        for (size_t i : layout.input_groups[g]) {
            LinearWeights f = load.float_weights(prefix, layout.linears[i].spec);
            layers.push_back({f.n, std::move(f.weight), std::move(f.bias)});
        }
        const int64_t k = layout.linears[layout.input_groups[g].front()].spec.in_mult * load.checkpoint().config().inner_dim();
        QuantizedLayers q = quantize_layers(layers, k, inputs[g].data(), static_cast<int64_t>(inputs[g].size()) / k, o, ctx);
        for (size_t j = 0; j < layers.size(); ++j) {
            const size_t i = layout.input_groups[g][j];
            LinearWeights& w = q.layers[j];
            w.activation = layout.linears[i].spec.activation;
            if (layout.linears[i].spec.nunchaku->kind == nunchaku::LayerKind::W4A4Unsigned) shift_fc2_input(w, ctx.pool());
            // The residual is quantized from the unrounded branch, as the file's writer does.
            if (!w.quantized_residual) w.quantized_residual = quantize_int4(smoothed_residual(w, ctx.pool()).data(), w.n, w.k, ctx.pool());
            w.bias = test::bf16_values(std::move(w.bias));
            w.up = test::bf16_values(std::move(w.up));
            block.*layout.linears[i].slot = Linear(ctx, std::move(w));
            quantized[i] = true;
        }
    }
    for (size_t i = 0; i < layout.linears.size(); ++i) {
        if (quantized[i]) continue;  // the adaLN linears: W4A16
        LinearWeights w = load.float_weights(prefix, layout.linears[i].spec);
        w.scheme = SVDQ_SCHEME_W4A16;
        w.format = SVDQ_FORMAT_INT4;
        const int64_t chunk = w.n / layout.linears[i].spec.out_mult;
        for (int64_t n = 0; n < w.n; ++n) {  // chunks shift, scale, gate (x 2 in a double block)
            float& b = w.bias[static_cast<size_t>(n)];
            b = n / chunk % 3 == 1 ? round_to_bf16(b + 1.0f) - 1.0f : round_to_bf16(b);
        }
        block.*layout.linears[i].slot = Linear(ctx, std::move(w));
    }
}

// flux-tiny quantized once (SVDQuant INT4, rank 16, calibrated on its inputs).
class FluxQuantizedFile : public ::testing::Test {
protected:
    const std::string& path_ = test::flux_tiny_svdquant_r16();
};

}  // namespace

// The file's blocks against the quantizer's layers built in memory from the
// same float model and calibration: every block state equal bit for bit, and
// the loaded FluxTransformer passing through the same states.
TEST_F(FluxQuantizedFile, BlocksEqualTheQuantizersLayersInMemory) {
    Context ctx(test::context_options());
    const FluxCheckpoint float_ck(kModel), file_ck(path_);
    const FluxConfig& config = float_ck.config();
    FluxLayerLoader float_load(ctx, float_ck, SVDQ_SCHEME_FLOAT), file_load(ctx, file_ck, SVDQ_SCHEME_FLOAT);
    const FluxInputSet inputs = tiny_inputs(config);
    const FluxInputs in = inputs.view();
    const FluxTokens t = in.tokens();
    const HostStates start = embed_on_host(ctx, float_load, config, in);

    FluxBlocks memory(float_load);
    HostStates calib = start;
    for (size_t i = 0; i < memory.doubles.size(); ++i)
        quantize_in_memory<FluxDoubleBlock>(ctx, float_load, static_cast<int64_t>(i), memory.doubles[i],
                                            [&](const FluxDoubleBlock& b, const LinearInputHook& hook) {
                                                b.forward({ctx, hook, AttentionPrecision::fp32}, calib.temb(), t, calib.rope(), calib.image(), calib.text());
                                            },
                                            svdquant_r16());
    std::vector<float> h = joint_rows(calib.x, calib.c, t, config.inner_dim());
    for (size_t i = 0; i < memory.singles.size(); ++i)
        quantize_in_memory<FluxSingleBlock>(ctx, float_load, static_cast<int64_t>(i), memory.singles[i],
                                            [&](const FluxSingleBlock& b, const LinearInputHook& hook) {
                                                b.forward({ctx, hook, AttentionPrecision::fp32}, calib.temb(), t, calib.rope(), HostStates::view(h, config.inner_dim()));
                                            },
                                            svdquant_r16());

    const FluxBlocks file(file_load);
    const BlockStates expected = run_blocks(ctx, config, t, start, memory);
    const BlockStates loaded = run_blocks(ctx, config, t, start, file);
    ASSERT_EQ(loaded.size(), 6u);
    for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(loaded[i].second, expected[i].second) << loaded[i].first;

    std::map<std::string, std::vector<float>> traced;
    FluxTransformer(ctx, file_ck, SVDQ_SCHEME_FLOAT, SVDQ_ATTENTION_FP32).forward(ctx, in, [&](const std::string& name, const std::vector<float>& v) { traced[name] = v; });
    for (const auto& [name, state] : loaded) EXPECT_EQ(traced[name], state) << name;
    // A quantized model that is not the float one (else equality proves nothing).
    const BlockStates float_states = run_blocks(ctx, config, t, start, FluxBlocks(float_load));
    EXPECT_GT(test::frobenius_rel_error(loaded.back().second, float_states.back().second), 1e-3);
}

namespace {

// A W4A4 layer of the file as the replay reads it.
test::W4A4ReplayLayer replay_layer(const NunchakuLinear& l, const FluxLayerSpec& spec) {
    test::W4A4ReplayLayer r;
    r.n = l.out_features;
    r.k = l.in_features;
    r.rank = l.rank;
    r.levels.resize(static_cast<size_t>(r.n * r.k));
    for (int64_t n = 0; n < r.n; ++n)
        for (int64_t k = 0; k < r.k; ++k) {
            const int nibble = (l.int4.packed[static_cast<size_t>((n * r.k + k) / 2)] >> (k % 2 * 4)) & 0xF;  // low nibble: even k
            r.levels[static_cast<size_t>(n * r.k + k)] = nibble >= 8 ? nibble - 16 : nibble;
        }
    r.scales = l.int4.scales;
    r.smooth = l.smooth;
    r.down = l.lora_down;
    r.up = l.lora_up;
    r.bias = l.bias;
    if (spec.nunchaku->kind == nunchaku::LayerKind::W4A4Unsigned) {
        r.shift = 0.171875f;
        r.unsigned_input = true;
    }
    r.gelu = spec.activation == SVDQ_ACTIVATION_GELU_TANH;
    return r;
}

// An adaLN layer of the file in float64 (DESIGN.md section 4): AWQ values
// q * scale + zero, file row j * C + c is diffusers row c * N / C + j, and
// the scale chunks' bias holds the +1 of x * (1 + scale).
std::function<std::vector<double>(const float*, int64_t)> adanorm_replay(const NunchakuW4A16Linear& l, int64_t chunks) {
    const int64_t n = l.out_features, k = l.in_features, per_chunk = n / chunks;
    std::vector<double> w(static_cast<size_t>(n * k));
    std::vector<float> bias(static_cast<size_t>(n));
    for (int64_t j = 0; j < per_chunk; ++j)
        for (int64_t c = 0; c < chunks; ++c) {
            const int64_t file_row = j * chunks + c, row = c * per_chunk + j;
            for (int64_t i = 0; i < k; ++i) w[static_cast<size_t>(row * k + i)] = l.value(file_row, i);
            bias[static_cast<size_t>(row)] = l.bias[static_cast<size_t>(file_row)] - (c % 3 == 1 ? 1.0f : 0.0f);
        }
    return [=](const float* x, int64_t rows) {
        return test::reference_matmul(x, rows, n, k, [&](int64_t o, int64_t i) { return w[static_cast<size_t>(o * k + i)]; }, bias.data());
    };
}

}  // namespace

// Every quantized linear of every block (W4A4 and the W4A16 adaLN), on the
// inputs a forward of the loaded model gives it, against a float64 replay of
// the values the file stores. The file's tensors are decoded by the engine's
// unpacker (checked against Nunchaku's published packing in
// test_nunchaku_packing.cpp); everything after that is written here.
TEST_F(FluxQuantizedFile, EveryLinearMatchesTheFloat64Replay) {
    Context ctx(test::context_options());
    const FluxCheckpoint file_ck(path_);
    const FluxConfig& config = file_ck.config();
    const int64_t d = config.inner_dim();
    FluxLayerLoader load(ctx, file_ck, SVDQ_SCHEME_FLOAT);
    const FluxBlocks blocks(load);
    const FluxInputSet inputs = tiny_inputs(config);

    struct Replay {
        std::string name;
        std::function<std::vector<double>(const float*, int64_t)> run;
        bool w4a16 = false;  // reads X as the level's W4A16 GEMM does (test::w4a16_input)
    };
    std::map<const Linear*, Replay> replays;
    auto add_block = [&](const auto& block, int64_t index) {
        using Block = std::decay_t<decltype(block)>;
        for (const auto& entry : Block::layout().linears) {
            const std::string name = load.stored_layer(Block::prefix(index), *entry.spec.nunchaku);
            ASSERT_FALSE(name.empty()) << Block::prefix(index) << entry.spec.nunchaku->diffusers;
            const SafeTensorsFile& file = *file_ck.file_with(name + ".qweight");
            const nunchaku::LayerKind kind = entry.spec.nunchaku->kind;
            if (kind == nunchaku::LayerKind::AdaNorm6 || kind == nunchaku::LayerKind::AdaNorm3) {
                replays[&(block.*entry.slot)] = {name, adanorm_replay(read_nunchaku_w4a16_linear(file, name), entry.spec.out_mult), true};
                continue;
            }
            const test::W4A4ReplayLayer layer = replay_layer(
                crop_nunchaku_linear(read_nunchaku_linear(file, name), entry.spec.out_mult * d, entry.spec.in_mult * d), entry.spec);
            replays[&(block.*entry.slot)] = {name, [layer](const float* x, int64_t rows) { return test::replay_w4a4(layer, x, rows); }};
        }
    };
    for (size_t i = 0; i < blocks.doubles.size(); ++i) add_block(blocks.doubles[i], static_cast<int64_t>(i));
    for (size_t i = 0; i < blocks.singles.size(); ++i) add_block(blocks.singles[i], static_cast<int64_t>(i));
    ASSERT_EQ(replays.size(), 2u * 10 + 2u * 5);

    std::map<std::string, double> errors;
    const LinearInputHook replay = [&](const Linear& layer, const std::vector<float>& x, int64_t rows) {
        const auto it = replays.find(&layer);
        if (it == replays.end()) return;  // embedders and output layers: float
        std::vector<float> y(static_cast<size_t>(rows * layer.out_features()));
        layer.forward(ctx, x.data(), rows, y.data());
        const std::vector<float> seen = it->second.w4a16 ? test::w4a16_input(ctx.backend().cpu_level(), x) : x;
        errors[it->second.name] = test::max_rel_error(y, it->second.run(seen.data(), rows));
    };
    run_blocks(ctx, config, inputs.view().tokens(), embed_on_host(ctx, load, config, inputs.view()), blocks, replay);

    ASSERT_EQ(errors.size(), replays.size()) << "every block linear ran";
    double worst = 0.0;
    for (const auto& [name, error] : errors) {
        std::printf("%-48s %.2e\n", name.c_str(), error);
        worst = std::max(worst, error);
        // Measured 1.3e-7 .. 3.7e-7 at every CPU level: float32 rounding of
        // sums over K <= 256; a flipped activation level (a step of
        // scale_x * scale_w) or any wrong stored value is 1e-3 or more.
        EXPECT_LT(error, 1e-6) << name;
    }
    std::printf("worst max|engine - replay| / max|replay|: %.2e\n", worst);
}

}  // namespace svdq
