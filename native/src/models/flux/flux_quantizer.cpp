#include "models/flux/flux_quantizer.h"

#include <functional>
#include <map>
#include <type_traits>
#include <utility>

#include "backend/context.h"
#include "core/error.h"
#include "core/numerics/int4.h"
#include "formats/nunchaku_layer_convert.h"
#include "formats/nunchaku_linear.h"
#include "formats/nunchaku_metadata.h"
#include "formats/nunchaku_w4a16_linear.h"
#include "formats/safetensors_stream_writer.h"
#include "formats/safetensors_writer.h"
#include "models/flux/flux_blocks.h"
#include "models/flux/flux_layer_loader.h"
#include "models/flux/flux_lora_updates.h"
#include "models/flux/flux_ops.h"
#include "quant/block_quantizer.h"

namespace svdq {

namespace {

constexpr const char* kModelClass = "NunchakuFluxTransformer2dModel";

bool in_block(const std::string& name) {
    return name.rfind("transformer_blocks.", 0) == 0 || name.rfind("single_transformer_blocks.", 0) == 0;
}

bool outside_blocks(const std::string& name) { return !in_block(name); }

// Copies a tensor's bytes as stored (embedders, norms: float, kept exactly).
void copy_tensor(SafeTensorsStreamWriter& out, const FluxCheckpoint& ck, const std::string& name, const std::string& as) {
    const SafeTensorsFile* file = ck.file_with(name);
    require(file != nullptr, SVDQ_ERROR_FORMAT, ck.path() + ": no tensor '" + name + "'");
    const TensorEntry& t = file->at(name);
    out.add(as, t.dtype, t.shape, file->data(t), t.size_bytes());
}

// Nunchaku runs mlp_fc2 on the GELU output shifted by kGeluShift and
// quantized unsigned; the branch reads it unshifted. The residual is fixed
// here so the bias can absorb the shift exactly: y = Qu((x + s) / smooth) R
// + branch(x) + bias - s sum_k R[n, k] / smooth[k].
void shift_input_as_nunchaku(LinearWeights& w, ThreadPool& pool) {
    const std::vector<float> residual = smoothed_residual(w, pool);
    Int4Matrix q = quantize_int4(residual.data(), w.n, w.k, pool);
    if (w.bias.empty()) w.bias.assign(static_cast<size_t>(w.n), 0.0f);
    for (int64_t n = 0; n < w.n; ++n) {
        double sum = 0.0;
        for (int64_t k = 0; k < w.k; ++k)
            sum += static_cast<double>(q.value(n, k)) / (w.smooth.empty() ? 1.0 : static_cast<double>(w.smooth[static_cast<size_t>(k)]));
        w.bias[static_cast<size_t>(n)] -= static_cast<float>(nunchaku::kGeluShift * sum);
    }
    w.quantized_residual = std::move(q);
    w.input_shift = nunchaku::kGeluShift;
    w.unsigned_input = true;
}

// Writes a float tensor outside the blocks: as stored, or with the LoRAs'
// updates of its linear merged in (its weight, in F32).
void write_outside_tensor(SafeTensorsStreamWriter& out, const FluxCheckpoint& ck, const std::string& name,
                          const std::vector<FluxLora>& loras) {
    const std::string weight = ".weight";
    const bool is_weight = name.size() > weight.size() && name.compare(name.size() - weight.size(), weight.size(), weight) == 0;
    const std::vector<LowRankUpdate> updates =
        is_weight ? flux_lora_updates(loras, name.substr(0, name.size() - weight.size())) : std::vector<LowRankUpdate>{};
    if (updates.empty()) return copy_tensor(out, ck, name, name);
    const SafeTensorsFile& file = *ck.file_with(name);
    const TensorEntry& t = file.at(name);
    require(t.shape.size() == 2, SVDQ_ERROR_FORMAT, ck.path() + ": tensor '" + name + "' is not a matrix");
    std::vector<float> w = file.read_f32(t);
    merge_low_rank_updates(w, t.shape[0], t.shape[1], updates);
    out.add(name, SVDQ_DTYPE_F32, t.shape, w.data(), w.size() * sizeof(float));
}

// Every linear a LoRA may name, with its shape (flux_lora.h's slot names).
template <typename Block>
void add_block_slots(std::map<std::string, FluxSlotShape>& slots, int64_t index, int64_t width) {
    for (const auto& [name, member] : Block::named_linears())
        for (const auto& entry : Block::layout().linears)
            if (entry.slot == member)
                slots[Block::prefix(index) + name] = {entry.spec.in_mult * width, entry.spec.out_mult * width};
}

// One calibration input's states between blocks, kept in backend memory.
struct CalibrationState {
    Buffer silu_temb, x, c, cos, sin;

    FluxRope rope() const { return {cos.view(), sin.view()}; }
};

Buffer keep(Context& ctx, const TensorView& v) {
    Buffer b(ctx.backend(), v.rows, v.cols);
    ctx.backend().copy(v, b.view());
    return b;
}

// A FLUX block as the quantizer sees it: its layout's linears under their
// Nunchaku file names, and a run over every calibration state.
template <typename Block>
class FluxQuantizableBlock final : public QuantizableBlock {
public:
    using RunBlock = std::function<void(const Block&, const LinearInputHook&)>;

    // With LoRAs, the float block runs them (as unfused fp32 branches, so the
    // calibration states are the merged model's) and its weights have them merged.
    FluxQuantizableBlock(Context& ctx, FluxLayerLoader& load, int64_t index, RunBlock run_block, const std::vector<FluxLora>& loras)
        : load_(load), prefix_(Block::prefix(index)), block_(load, index), run_block_(std::move(run_block)) {
        for (const auto& entry : Block::layout().linears) {
            linears_.push_back({&(block_.*entry.slot), prefix_ + entry.spec.nunchaku->diffusers});
            std::vector<LowRankUpdate> updates;
            for (const auto& [name, member] : Block::named_linears())
                if (member == entry.slot) updates = flux_lora_updates(loras, prefix_ + name);
            if (!updates.empty()) (block_.*entry.slot).set_low_rank_updates(ctx, updates);
            updates_.push_back(std::move(updates));
        }
    }

    const std::vector<Entry>& linears() const override { return linears_; }
    const std::vector<std::vector<size_t>>& input_groups() const override { return Block::layout().input_groups; }
    LinearWeights float_weights(size_t i) const override {
        LinearWeights w = load_.float_weights(prefix_, spec(i));
        if (!updates_[i].empty()) merge_low_rank_updates(w.weight, w.n, w.k, updates_[i]);
        return w;
    }
    void run(const LinearInputHook& hook) const override { run_block_(block_, hook); }

    const FluxLayerSpec& spec(size_t i) const { return Block::layout().linears[i].spec; }

private:
    FluxLayerLoader& load_;
    std::string prefix_;
    Block block_;
    RunBlock run_block_;
    std::vector<Entry> linears_;
    std::vector<std::vector<LowRankUpdate>> updates_;  // per linear: what the LoRAs add to it
};

struct Quantization {
    Context& ctx;
    const FluxCheckpoint& ck;
    const QuantizerOptions& options;
    const FluxQuantizeProgress& progress;
    const std::vector<FluxLora>& loras;
    SafeTensorsStreamWriter& out;
    FluxLayerLoader load;
    int64_t done = 0, total = 0;

    // Quantizes one block and writes it in Nunchaku's form: W4A4 layers (INT4
    // mlp_fc2 with its input shifted), AWQ W4A16 adaLN layers, the q/k norms.
    template <typename Block>
    void block(int64_t index, typename FluxQuantizableBlock<Block>::RunBlock run_block) {
        const FluxQuantizableBlock<Block> quantizable(ctx, load, index, std::move(run_block), loras);
        const auto store = [&](size_t i, LinearWeights& w) {
            const nunchaku::LayerName& name = *quantizable.spec(i).nunchaku;
            const std::string& file_name = quantizable.linears()[i].name;
            SafeTensorsWriter part;
            if (w.scheme == SVDQ_SCHEME_W4A16) {
                const int chunks = name.kind == nunchaku::LayerKind::AdaNorm6 ? 6 : 3;
                add_nunchaku_w4a16_linear(part, file_name, adanorm_to_nunchaku(awq_from_linear_weights(w, ctx.pool()), chunks));
            } else {
                if (name.kind == nunchaku::LayerKind::W4A4Unsigned && w.format == SVDQ_FORMAT_INT4)
                    shift_input_as_nunchaku(w, ctx.pool());
                add_nunchaku_linear(part, file_name, nunchaku_from_linear_weights(w, ctx.pool()), nunchaku::Keys::Diffusers);
            }
            out.add_all(part);
        };
        const auto report = [&](const std::string& layer, float error) {
            ++done;
            if (progress && !progress({layer, done, total, error}))
                fail(SVDQ_ERROR_CANCELLED, "quantization cancelled by the progress callback after " + layer);
        };
        quantize_block(ctx, quantizable, options, store, report);
        const std::string prefix = Block::prefix(index);
        for (const char* norm : std::is_same<Block, FluxSingleBlock>::value
                                    ? std::vector<const char*>{"norm_q", "norm_k"}
                                    : std::vector<const char*>{"norm_q", "norm_k", "norm_added_q", "norm_added_k"})
            copy_tensor(out, ck, prefix + "attn." + norm + ".weight", prefix + "attn." + norm + ".weight");
    }
};

}  // namespace

int64_t flux_quantized_layer_count(const FluxConfig& config) {
    return config.num_layers * static_cast<int64_t>(FluxDoubleBlock::layout().linears.size()) +
           config.num_single_layers * static_cast<int64_t>(FluxSingleBlock::layout().linears.size());
}

void quantize_flux(Context& ctx, const FluxCheckpoint& ck, const std::vector<FluxInputs>& calibration,
                   const QuantizerOptions& options, const std::string& output_path, const FluxQuantizeProgress& progress,
                   const std::vector<FluxLora>& loras) {
    validate(options);
    require(options.method != SVDQ_QUANT_W4A16, SVDQ_ERROR_UNSUPPORTED,
            "a FLUX checkpoint quantizes its block linears to W4A4 (rtn, smoothquant, lowrank or svdquant); w4a16 is per layer only");
    require(!calibration.empty(), SVDQ_ERROR_INVALID_ARGUMENT, "quantizing a FLUX model needs at least one calibration input");
    const FluxConfig& config = ck.config();
    SafeTensorsStreamWriter out(output_path);
    Quantization q{ctx, ck, options, progress, loras, out, FluxLayerLoader(ctx, ck, SVDQ_SCHEME_FLOAT)};
    q.total = flux_quantized_layer_count(config);
    require(q.load.stored_layer(FluxDoubleBlock::prefix(0), nunchaku::double_block_layers().front()).empty(),
            SVDQ_ERROR_INVALID_ARGUMENT, ck.path() + " is already quantized: quantize a float diffusers checkpoint");

    SafeTensorsWriter metadata;
    const bool branch = options.method == SVDQ_QUANT_LOWRANK || options.method == SVDQ_QUANT_SVDQUANT;
    set_nunchaku_metadata(metadata,
                          options.format == SVDQ_FORMAT_NVFP4 ? SVDQ_FORMAT_NVFP4 : SVDQ_FORMAT_INT4,
                          branch ? options.rank : 0, ck.config_text(), kModelClass);
    out.add_all(metadata);

    // Embedders, norm_out and proj_out stay float, copied as stored. The
    // float model reads them first, so a tensor outside the blocks that the
    // config does not use (guidance weights with guidance_embeds false) is
    // refused here rather than written into a file that would not load.
    FluxEmbeddings embeddings(q.load);
    const Linear norm_out = q.load.dense("norm_out.linear", config.inner_dim(), 2 * config.inner_dim());
    const Linear proj_out = q.load.dense("proj_out", config.inner_dim(), config.output_features());
    ck.require_all_read(outside_blocks);

    // LoRAs are checked against every linear before any work, then the
    // embeddings run theirs for calibration and the float tensors are written merged.
    std::map<std::string, FluxSlotShape> slots;
    for (const auto& [name, linear] : embeddings.named_linears()) slots[name] = {linear->in_features(), linear->out_features()};
    slots["norm_out.linear"] = {norm_out.in_features(), norm_out.out_features()};
    slots["proj_out"] = {proj_out.in_features(), proj_out.out_features()};
    for (int64_t i = 0; i < config.num_layers; ++i) add_block_slots<FluxDoubleBlock>(slots, i, config.inner_dim());
    for (int64_t i = 0; i < config.num_single_layers; ++i) add_block_slots<FluxSingleBlock>(slots, i, config.inner_dim());
    for (const FluxLora& lora : loras) check_flux_lora(lora, slots);
    for (const auto& [name, linear] : embeddings.named_linears())
        if (std::vector<LowRankUpdate> updates = flux_lora_updates(loras, name); !updates.empty())
            linear->set_low_rank_updates(ctx, std::move(updates));
    for (const std::string& name : ck.tensor_names())
        if (!in_block(name)) write_outside_tensor(out, ck, name, loras);

    const LinearInputHook no_hook;
    const AttentionPrecision fp32 = AttentionPrecision::fp32;  // calibration runs the float model
    std::vector<CalibrationState> states;
    for (const FluxInputs& in : calibration) {
        const Arena::Scope scope(ctx.arena());
        const FluxEmbedded e = embeddings.embed({ctx, no_hook, fp32}, config, in, {});
        states.push_back({keep(ctx, e.silu_temb), keep(ctx, e.x), keep(ctx, e.c), keep(ctx, e.rope.cos), keep(ctx, e.rope.sin)});
    }

    for (int64_t i = 0; i < config.num_layers; ++i)
        q.block<FluxDoubleBlock>(i, [&](const FluxDoubleBlock& block, const LinearInputHook& hook) {
            for (size_t c = 0; c < states.size(); ++c)
                block.forward({ctx, hook, fp32}, states[c].silu_temb.view(), calibration[c].tokens(), states[c].rope(),
                              states[c].x.view(), states[c].c.view());
        });

    // The single blocks run on the joint sequence, text rows first per batch item.
    std::vector<Buffer> joint;
    for (size_t c = 0; c < states.size(); ++c) {
        const FluxTokens t = calibration[c].tokens();
        joint.emplace_back(ctx.backend(), t.batch * t.joint(), config.inner_dim());
        for (int64_t b = 0; b < t.batch; ++b) {
            copy_rows(ctx, states[c].c.view(), b * t.txt, joint[c].view(), b * t.joint(), t.txt);
            copy_rows(ctx, states[c].x.view(), b * t.img, joint[c].view(), b * t.joint() + t.txt, t.img);
        }
    }
    for (int64_t i = 0; i < config.num_single_layers; ++i)
        q.block<FluxSingleBlock>(i, [&](const FluxSingleBlock& block, const LinearInputHook& hook) {
            for (size_t c = 0; c < states.size(); ++c)
                block.forward({ctx, hook, fp32}, states[c].silu_temb.view(), calibration[c].tokens(), states[c].rope(),
                              joint[c].view());
        });
    ck.require_all_read();  // e.g. blocks past num_layers: refuse rather than drop them
    out.finish();
}

}  // namespace svdq
