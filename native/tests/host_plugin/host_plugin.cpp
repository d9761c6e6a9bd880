// A test double of a backend plugin library: the backend_plugin.h door
// implemented over the CPU backend, its "device" memory ordinary host memory.
// It lets the engine's side of the door (backend/plugin/plugin_backend.cpp:
// the adapter, layers prepared on the host, updates, errors) run the whole
// FLUX forward on a machine without a GPU (test_backend_plugin.cpp). Not
// shipped; the real plugin is backend/cuda/.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/plugin/backend_plugin.h"
#include "core/aligned.h"
#include "core/error.h"
#include "core/thread_pool.h"

namespace {

using svdq::TensorView;

thread_local std::string last_message;

template <class Body>
int32_t call(Body&& body) {
    try {
        body();
        last_message.clear();
        return SVDQ_OK;
    } catch (const svdq::Error& e) {
        last_message = e.what();
        return e.status();
    } catch (const std::exception& e) {
        last_message = e.what();
        return SVDQ_ERROR_INTERNAL;
    }
}

struct HostBackend {
    svdq::ThreadPool pool{1};
    svdq::CpuBackend cpu{pool, SVDQ_CPU_SCALAR};
};

HostBackend& backend(void* b) { return *static_cast<HostBackend*>(b); }
TensorView view(const svdq_plugin_view& v) { return {v.data, v.rows, v.cols, v.row_stride, svdq::Memory::host}; }

int32_t device_count(int32_t* out) {
    *out = 1;
    return SVDQ_OK;
}

int32_t device_info(int32_t ordinal, svdq_plugin_device* out) {
    return call([&] {
        svdq::require(ordinal == 0, SVDQ_ERROR_INVALID_ARGUMENT, "the host test plugin has device 0 only");
        *out = svdq_plugin_device{};
        std::strncpy(out->name, "host test device", sizeof out->name - 1);
        out->compute_capability = 89;
        out->total_memory_bytes = 1ull << 30;
    });
}

int32_t create(int32_t, void** out) {
    return call([&] { *out = new HostBackend(); });
}
void destroy(void* b) { delete static_cast<HostBackend*>(b); }

int32_t allocate(void* b, size_t bytes, void** out) {
    return call([&] { *out = backend(b).cpu.allocate(bytes); });
}
void release(void* b, void* data) { backend(b).cpu.release(data, 0); }
int32_t upload(void* b, const float* host, svdq_plugin_view dst) { return call([&] { backend(b).cpu.upload(host, view(dst)); }); }
int32_t download(void* b, svdq_plugin_view src, float* host) { return call([&] { backend(b).cpu.download(view(src), host); }); }
int32_t copy(void* b, svdq_plugin_view src, svdq_plugin_view dst) { return call([&] { backend(b).cpu.copy(view(src), view(dst)); }); }

std::vector<float> floats(const float* p, int64_t count) { return p ? std::vector<float>(p, p + count) : std::vector<float>{}; }

// The engine's host preparation, turned back into the stored form the CPU backend prepares from.
svdq::LinearWeights weights_of(const svdq_plugin_linear_desc& d) {
    svdq::LinearWeights w;
    w.scheme = static_cast<svdq_linear_scheme>(d.scheme);
    w.activation = static_cast<svdq_activation>(d.activation);
    w.branch_execution = static_cast<svdq_branch_execution>(d.branch_execution);
    w.format = w.scheme == SVDQ_SCHEME_FLOAT ? SVDQ_FORMAT_FLOAT : SVDQ_FORMAT_INT4;
    w.n = d.n;
    w.k = d.k;
    w.bias = floats(d.bias, d.n);
    if (w.scheme == SVDQ_SCHEME_FLOAT) {
        w.weight = floats(d.weight, d.n * d.k);
        return w;
    }
    svdq::Int4Matrix q;
    q.rows = d.n;
    q.cols = d.k;
    q.packed.assign(d.codes, d.codes + d.n * d.k / 2);
    q.scales = floats(d.scales, d.n * d.k / 64);
    w.quantized_residual = std::move(q);
    w.quantized_zeros = floats(d.zeros, d.n * d.k / 64);
    if (w.scheme == SVDQ_SCHEME_W4A16) return w;
    if (d.inv_smooth)
        for (int64_t j = 0; j < d.k; ++j) w.smooth.push_back(1.0f / d.inv_smooth[j]);
    w.input_shift = d.input_shift;
    w.unsigned_input = d.unsigned_input != 0;
    w.rank = d.rank;
    w.down = floats(d.down, d.rank * d.k);
    w.up = floats(d.up, d.n * d.rank);
    w.down_reads_input = true;
    return w;
}

// A prepared CPU layer with the shape its updates need.
struct HostLinear {
    std::unique_ptr<svdq::PreparedLinear> layer;
    int64_t n, k;
};

int32_t prepare_linear(void* b, const svdq_plugin_linear_desc* d, void** out, uint64_t* bytes) {
    return call([&] {
        auto l = std::make_unique<HostLinear>(HostLinear{backend(b).cpu.prepare_linear(weights_of(*d)), d->n, d->k});
        *bytes = l->layer->memory_bytes();
        *out = l.release();
    });
}
void destroy_linear(void* layer) { delete static_cast<HostLinear*>(layer); }
int32_t set_low_rank_updates(void*, void* layer, const svdq_plugin_low_rank_update* updates, int32_t count, uint64_t* bytes) {
    return call([&] {
        auto& l = *static_cast<HostLinear*>(layer);
        std::vector<svdq::LowRankUpdate> list;
        for (int32_t i = 0; i < count; ++i) {
            const svdq_plugin_low_rank_update& u = updates[i];
            list.push_back({u.rank, floats(u.down, u.rank * l.k), floats(u.up, l.n * u.rank), u.scale});
        }
        l.layer->set_low_rank_updates(list);
        *bytes = l.layer->memory_bytes();
    });
}
int32_t linear(void* b, void* layer, svdq_plugin_view x, svdq_plugin_view y) {
    return call([&] { backend(b).cpu.linear(*static_cast<HostLinear*>(layer)->layer, view(x), view(y)); });
}

int32_t mlp(void* b, void* first, void* second, svdq_plugin_view x, svdq_plugin_view hidden, svdq_plugin_view y) {
    return call([&] {
        backend(b).cpu.mlp(*static_cast<HostLinear*>(first)->layer, *static_cast<HostLinear*>(second)->layer, view(x), view(hidden),
                           view(y));
    });
}

int32_t attention(void* b, svdq_plugin_view q, svdq_plugin_view k, svdq_plugin_view v, int64_t head_dim, int32_t precision,
                  svdq_plugin_view out) {
    return call([&] { backend(b).cpu.attention(view(q), view(k), view(v), head_dim, static_cast<svdq::AttentionPrecision>(precision), view(out)); });
}
int32_t biased_attention(void* b, svdq_plugin_view q, svdq_plugin_view k, svdq_plugin_view v, int64_t head_dim,
                         const svdq_plugin_attention_bias* bias, svdq_plugin_view out) {
    return call([&] {
        svdq::AttentionBias plain;
        plain.scale = bias->scale;
        plain.bias = view(bias->bias);
        plain.key_bias = view(bias->key_bias);
        plain.causal = bias->causal != 0;
        backend(b).cpu.biased_attention(view(q), view(k), view(v), head_dim, plain, view(out));
    });
}
int32_t layer_norm(void* b, svdq_plugin_view x, svdq_plugin_view w, svdq_plugin_view bias, float eps, svdq_plugin_view out) {
    return call([&] { backend(b).cpu.layer_norm(view(x), view(w), view(bias), eps, view(out)); });
}
int32_t activate(void* b, svdq_plugin_view x, int32_t a) {
    return call([&] { backend(b).cpu.activate(view(x), static_cast<svdq::Activation>(a)); });
}
int32_t multiply(void* b, svdq_plugin_view x, svdq_plugin_view o) { return call([&] { backend(b).cpu.multiply(view(x), view(o)); }); }
int32_t layer_norm_modulate(void* b, svdq_plugin_view x, svdq_plugin_view s, svdq_plugin_view sh, float eps, svdq_plugin_view out) {
    return call([&] { backend(b).cpu.layer_norm_modulate(view(x), view(s), view(sh), eps, view(out)); });
}
int32_t rms_norm_heads(void* b, svdq_plugin_view x, svdq_plugin_view w, float eps) {
    return call([&] { backend(b).cpu.rms_norm_heads(view(x), view(w), eps); });
}
int32_t rope(void* b, svdq_plugin_view x, svdq_plugin_view c, svdq_plugin_view s) {
    return call([&] { backend(b).cpu.rope(view(x), view(c), view(s)); });
}
int32_t silu(void* b, svdq_plugin_view x) { return call([&] { backend(b).cpu.silu(view(x)); }); }
int32_t group_norm(void* b, svdq_plugin_view x, int64_t groups, svdq_plugin_view w, svdq_plugin_view bias, float eps, int32_t s,
                   svdq_plugin_view out) {
    return call([&] { backend(b).cpu.group_norm(view(x), groups, view(w), view(bias), eps, s != 0, view(out)); });
}
int32_t conv3x3_patches(void* b, svdq_plugin_view image, const svdq_plugin_conv_geometry* g, int64_t first, svdq_plugin_view out) {
    return call([&] {
        const svdq::ConvGeometry geometry{g->height, g->width, g->upsample, g->stride, g->pad_top, g->pad_left, g->out_height, g->out_width};
        backend(b).cpu.conv3x3_patches(view(image), geometry, first, view(out));
    });
}
int32_t add(void* b, svdq_plugin_view x, svdq_plugin_view u) { return call([&] { backend(b).cpu.add(view(x), view(u)); }); }
int32_t gated_add(void* b, svdq_plugin_view x, svdq_plugin_view u, svdq_plugin_view g) {
    return call([&] { backend(b).cpu.gated_add(view(x), view(u), view(g)); });
}

const char* last_error() { return last_message.c_str(); }

const svdq_backend_plugin kPlugin = {
    SVDQ_PLUGIN_ABI_VERSION, "host-test", last_error, device_count, device_info, create, destroy, allocate, release, upload,
    download, copy, prepare_linear, destroy_linear, set_low_rank_updates, linear, mlp, attention, biased_attention, layer_norm,
    activate, multiply, layer_norm_modulate, rms_norm_heads, rope, silu, group_norm, conv3x3_patches, add, gated_add,
};

}  // namespace

SVDQ_PLUGIN_EXPORT const svdq_backend_plugin* svdq_backend_plugin_get(void) { return &kPlugin; }
