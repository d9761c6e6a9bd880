#include "backend/plugin/plugin_backend.h"

#include <algorithm>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "core/numerics/fake_quant.h"
#include "core/numerics/int4.h"
#include "core/thread_pool.h"

namespace svdq {

void check_plugin(const svdq_backend_plugin& plugin, int32_t status, const char* what) {
    if (status == SVDQ_OK) return;
    const char* message = plugin.last_error();
    fail(static_cast<svdq_status>(status), std::string(plugin.name) + " " + what + ": " + (message ? message : ""));
}

namespace {

std::vector<float> rounded_to_bf16(std::vector<float> values) {
    for (float& v : values) v = round_to_bf16(v);
    return values;
}

// A layer prepared inside the plugin: its handle there, released with it.
class PluginLinear : public PreparedLinear {
public:
    PluginLinear(const svdq_backend_plugin& plugin, void* backend, void* handle, uint64_t bytes)
        : plugin_(plugin), backend_(backend), handle_(handle), bytes_(bytes) {}
    ~PluginLinear() override { plugin_.destroy_linear(handle_); }
    PluginLinear(const PluginLinear&) = delete;
    PluginLinear& operator=(const PluginLinear&) = delete;

    void* handle() const { return handle_; }
    uint64_t memory_bytes() const override { return bytes_; }
    void set_low_rank_updates(const std::vector<LowRankUpdate>& updates) override {
        std::vector<svdq_plugin_low_rank_update> plain;
        plain.reserve(updates.size());
        for (const LowRankUpdate& u : updates) plain.push_back({u.rank, u.down.data(), u.up.data(), u.scale});
        uint64_t bytes = 0;
        check_plugin(plugin_, plugin_.set_low_rank_updates(backend_, handle_, plain.data(), static_cast<int32_t>(plain.size()), &bytes),
                     "set_low_rank_updates");
        bytes_ = bytes;
    }

private:
    const svdq_backend_plugin& plugin_;
    void* backend_;
    void* handle_;
    uint64_t bytes_;
};

class PluginBackend : public Backend {
public:
    PluginBackend(const svdq_backend_plugin& plugin, svdq_backend kind, int32_t ordinal, ThreadPool& pool)
        : plugin_(plugin), kind_(kind), pool_(pool) {
        check_plugin(plugin_, plugin_.create(ordinal, &backend_), "backend creation");
        svdq_plugin_device device{};
        check_plugin(plugin_, plugin_.device_info(ordinal, &device), "device_info");
        description_ = std::string(plugin_.name) + " backend, device " + std::to_string(ordinal) + ": " + device.name +
                       " (compute capability " + std::to_string(device.compute_capability / 10) + "." +
                       std::to_string(device.compute_capability % 10) + ", " +
                       std::to_string(device.total_memory_bytes >> 20) + " MiB)";
    }
    ~PluginBackend() override { plugin_.destroy(backend_); }
    PluginBackend(const PluginBackend&) = delete;
    PluginBackend& operator=(const PluginBackend&) = delete;

    svdq_backend kind() const override { return kind_; }
    svdq_cpu_level cpu_level() const override { return SVDQ_CPU_AUTO; }
    std::string description() const override { return description_; }
    bool reads_host_memory() const override { return false; }

    void* allocate(size_t bytes) override {
        void* data = nullptr;
        check_plugin(plugin_, plugin_.allocate(backend_, bytes, &data), "allocate");
        return data;
    }
    void release(void* data, size_t) noexcept override { plugin_.release(backend_, data); }
    void upload(const float* host, const TensorView& dst) override {
        check_plugin(plugin_, plugin_.upload(backend_, host, view(dst, "upload")), "upload");
    }
    void download(const TensorView& src, float* host) override {
        check_plugin(plugin_, plugin_.download(backend_, view(src, "download"), host), "download");
    }
    void copy(const TensorView& src, const TensorView& dst) override {
        check_plugin(plugin_, plugin_.copy(backend_, view(src, "copy"), view(dst, "copy")), "copy");
    }

    std::unique_ptr<PreparedLinear> prepare_linear(const LinearWeights& w) override;
    void linear(const PreparedLinear& layer, const TensorView& x, const TensorView& y) override {
        const auto& prepared = static_cast<const PluginLinear&>(layer);
        check_plugin(plugin_, plugin_.linear(backend_, prepared.handle(), view(x, "linear"), view(y, "linear")), "linear");
    }

    void mlp(const PreparedLinear& first, const PreparedLinear& second, const TensorView& x, const TensorView& hidden,
             const TensorView& y) override {
        check_plugin(plugin_,
                     plugin_.mlp(backend_, static_cast<const PluginLinear&>(first).handle(),
                                 static_cast<const PluginLinear&>(second).handle(), view(x, "mlp"), view(hidden, "mlp"),
                                 view(y, "mlp")),
                     "mlp");
    }

    void attention(const TensorView& q, const TensorView& k, const TensorView& v, int64_t head_dim,
                   AttentionPrecision precision, const TensorView& out) override {
        check_plugin(plugin_,
                     plugin_.attention(backend_, view(q, "attention"), view(k, "attention"), view(v, "attention"), head_dim,
                                       static_cast<int32_t>(precision), view(out, "attention")),
                     "attention");
    }
    void biased_attention(const TensorView& q, const TensorView& k, const TensorView& v, int64_t head_dim,
                          const AttentionBias& bias, const TensorView& out) override {
        const svdq_plugin_attention_bias plain{bias.scale, optional_view(bias.bias, "biased_attention"),
                                               optional_view(bias.key_bias, "biased_attention"), bias.causal ? 1 : 0};
        check_plugin(plugin_,
                     plugin_.biased_attention(backend_, view(q, "biased_attention"), view(k, "biased_attention"),
                                              view(v, "biased_attention"), head_dim, &plain, view(out, "biased_attention")),
                     "biased_attention");
    }
    void layer_norm(const TensorView& x, const TensorView& weight, const TensorView& bias, float eps,
                    const TensorView& out) override {
        check_plugin(plugin_,
                     plugin_.layer_norm(backend_, view(x, "layer_norm"), view(weight, "layer_norm"), view(bias, "layer_norm"),
                                        eps, view(out, "layer_norm")),
                     "layer_norm");
    }
    void activate(const TensorView& x, Activation activation) override {
        check_plugin(plugin_, plugin_.activate(backend_, view(x, "activate"), static_cast<int32_t>(activation)), "activate");
    }
    void multiply(const TensorView& x, const TensorView& other) override {
        check_plugin(plugin_, plugin_.multiply(backend_, view(x, "multiply"), view(other, "multiply")), "multiply");
    }
    void layer_norm_modulate(const TensorView& x, const TensorView& scale, const TensorView& shift, float eps,
                             const TensorView& out) override {
        check_plugin(plugin_,
                     plugin_.layer_norm_modulate(backend_, view(x, "layer_norm_modulate"), view(scale, "layer_norm_modulate"),
                                                 view(shift, "layer_norm_modulate"), eps, view(out, "layer_norm_modulate")),
                     "layer_norm_modulate");
    }
    void rms_norm_heads(const TensorView& x, const TensorView& weight, float eps) override {
        check_plugin(plugin_, plugin_.rms_norm_heads(backend_, view(x, "rms_norm_heads"), view(weight, "rms_norm_heads"), eps),
                     "rms_norm_heads");
    }
    void rope(const TensorView& x, const TensorView& cos, const TensorView& sin) override {
        check_plugin(plugin_, plugin_.rope(backend_, view(x, "rope"), view(cos, "rope"), view(sin, "rope")), "rope");
    }
    void silu(const TensorView& x) override { check_plugin(plugin_, plugin_.silu(backend_, view(x, "silu")), "silu"); }
    void group_norm(const TensorView& x, int64_t groups, const TensorView& weight, const TensorView& bias, float eps, bool silu,
                    const TensorView& out) override {
        check_plugin(plugin_,
                     plugin_.group_norm(backend_, view(x, "group_norm"), groups, view(weight, "group_norm"),
                                        view(bias, "group_norm"), eps, silu ? 1 : 0, view(out, "group_norm")),
                     "group_norm");
    }
    void conv3x3_patches(const TensorView& image, const ConvGeometry& g, int64_t first_out_row,
                         const TensorView& out) override {
        const svdq_plugin_conv_geometry plain{g.height,   g.width,    g.upsample,   g.stride,
                                              g.pad_top,  g.pad_left, g.out_height, g.out_width};
        check_plugin(plugin_,
                     plugin_.conv3x3_patches(backend_, view(image, "conv3x3_patches"), &plain, first_out_row,
                                             view(out, "conv3x3_patches")),
                     "conv3x3_patches");
    }
    void add(const TensorView& x, const TensorView& update) override {
        check_plugin(plugin_, plugin_.add(backend_, view(x, "add"), view(update, "add")), "add");
    }
    void gated_add(const TensorView& x, const TensorView& update, const TensorView& gate) override {
        check_plugin(plugin_, plugin_.gated_add(backend_, view(x, "gated_add"), view(update, "gated_add"), view(gate, "gated_add")),
                     "gated_add");
    }

private:
    // Host memory handed to a device op would be read as a device address: refused by name.
    static svdq_plugin_view view(const TensorView& v, const char* op) {
        if (v.memory != Memory::backend)
            fail(SVDQ_ERROR_INTERNAL, std::string(op) + ": a host view reached a backend that reads only its own memory");
        return {v.data, v.rows, v.cols, v.row_stride};
    }
    static svdq_plugin_view optional_view(const TensorView& v, const char* op) {
        return v.data == nullptr ? svdq_plugin_view{} : view(v, op);
    }
    std::unique_ptr<PreparedLinear> prepare(const svdq_plugin_linear_desc& desc) {
        void* handle = nullptr;
        uint64_t bytes = 0;
        check_plugin(plugin_, plugin_.prepare_linear(backend_, &desc, &handle, &bytes), "prepare_linear");
        return std::make_unique<PluginLinear>(plugin_, backend_, handle, bytes);
    }

    const svdq_backend_plugin& plugin_;
    svdq_backend kind_;
    ThreadPool& pool_;
    void* backend_ = nullptr;
    std::string description_;
};

std::unique_ptr<PreparedLinear> PluginBackend::prepare_linear(const LinearWeights& w) {
    check_linear_weights(w);
    svdq_plugin_linear_desc d{};
    d.scheme = w.scheme;
    d.activation = w.activation;
    d.branch_execution = w.branch_execution;
    d.n = w.n;
    d.k = w.k;
    d.bias = w.bias.empty() ? nullptr : w.bias.data();
    const auto float_layer = [&](const std::vector<float>& weight) {
        d.scheme = SVDQ_SCHEME_FLOAT;
        d.weight = weight.data();
        d.weights_are_bf16 = std::all_of(weight.begin(), weight.end(), [](float v) { return round_to_bf16(v) == v; });
        return prepare(d);
    };
    if (w.scheme == SVDQ_SCHEME_FLOAT) return float_layer(w.weight);
    if (w.scheme == SVDQ_SCHEME_W4A16) {
        if (w.format == SVDQ_FORMAT_NVFP4) {  // as the CPU runs it: the NVFP4 values as float weights
            std::vector<float> values(w.weight.size());
            fake_quantize_rows(SVDQ_FORMAT_NVFP4, w.weight.data(), w.n, w.k, false, values.data(), &pool_);
            return float_layer(values);
        }
        const Int4Matrix quantized = w.quantized_residual ? *w.quantized_residual : quantize_int4(w.weight.data(), w.n, w.k, pool_);
        d.codes = quantized.packed.data();
        d.scales = quantized.scales.data();
        d.zeros = w.quantized_residual && !w.quantized_zeros.empty() ? w.quantized_zeros.data() : nullptr;
        return prepare(d);
    }
    require(w.format == SVDQ_FORMAT_INT4, SVDQ_ERROR_UNSUPPORTED,
            std::string(plugin_.name) + " runs W4A4 layers in INT4 only: NVFP4 needs the sm_120a kernels, not in this build");
    const Int4Matrix quantized = w.quantized_residual ? *w.quantized_residual : [&] {
        const std::vector<float> residual = smoothed_residual(w, pool_);
        return quantize_int4(residual.data(), w.n, w.k, pool_);
    }();
    d.codes = quantized.packed.data();
    d.scales = quantized.scales.data();
    std::vector<float> inv_smooth(w.smooth.size());
    for (size_t j = 0; j < w.smooth.size(); ++j) inv_smooth[j] = 1.0f / w.smooth[j];
    d.inv_smooth = inv_smooth.empty() ? nullptr : inv_smooth.data();
    d.input_shift = w.input_shift;
    d.unsigned_input = w.unsigned_input ? 1 : 0;
    // The branch in BF16, as the CPU kernels and Nunchaku keep it.
    const std::vector<float> down = w.rank > 0 ? rounded_to_bf16(down_reading_input(w)) : std::vector<float>{};
    const std::vector<float> up = w.rank > 0 ? rounded_to_bf16(w.up) : std::vector<float>{};
    d.rank = w.rank;
    d.down = w.rank > 0 ? down.data() : nullptr;
    d.up = w.rank > 0 ? up.data() : nullptr;
    return prepare(d);
}

}  // namespace

std::unique_ptr<Backend> make_plugin_backend(const svdq_backend_plugin& plugin, svdq_backend kind, int32_t ordinal,
                                             ThreadPool& pool) {
    return std::make_unique<PluginBackend>(plugin, kind, ordinal, pool);
}

}  // namespace svdq
