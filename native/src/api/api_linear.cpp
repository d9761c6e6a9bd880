#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "api/api_guard.h"
#include "backend/context.h"
#include "core/tensor.h"
#include "nn/linear.h"

using namespace svdq;

namespace {

// Rows of an F32 tensor [..., features], checked against the layer.
int64_t rows_of(const Tensor& t, int64_t features, const char* what) {
    require(t.dtype() == SVDQ_DTYPE_F32, SVDQ_ERROR_DTYPE, std::string(what) + " must be F32, not " + dtype_name(t.dtype()));
    require(t.ndim() >= 1 && t.dim(t.ndim() - 1) == features, SVDQ_ERROR_SHAPE_MISMATCH,
            std::string(what) + " has shape " + t.shape_string() + " but its last dimension must be " +
                std::to_string(features));
    return t.numel() / features;
}

// One svdq_low_rank_update checked against the layer and copied (F32 down
// [r, K], up [N, r]); errors name the update by its index.
LowRankUpdate low_rank_update_of(const svdq_low_rank_update& given, int32_t index, const Linear& layer) {
    const std::string name = "updates[" + std::to_string(index) + "]";
    const svdq_low_rank_update u = read_versioned(given, svdq_low_rank_update{}, "svdq_low_rank_update");
    const Tensor& down = deref(u.down, (name + ".down").c_str());
    const Tensor& up = deref(u.up, (name + ".up").c_str());
    for (const auto& [t, part] : {std::pair{&down, ".down"}, std::pair{&up, ".up"}})
        require(t->dtype() == SVDQ_DTYPE_F32, SVDQ_ERROR_DTYPE, name + part + " must be F32, not " + dtype_name(t->dtype()));
    require(down.ndim() == 2 && down.dim(0) >= 1 && down.dim(1) == layer.in_features(), SVDQ_ERROR_SHAPE_MISMATCH,
            name + ".down has shape " + down.shape_string() + " but must be [r, " + std::to_string(layer.in_features()) +
                "] with r >= 1");
    const int64_t rank = down.dim(0);
    require(up.ndim() == 2 && up.dim(0) == layer.out_features() && up.dim(1) == rank, SVDQ_ERROR_SHAPE_MISMATCH,
            name + ".up has shape " + up.shape_string() + " but must be [" + std::to_string(layer.out_features()) + ", " +
                std::to_string(rank) + "] (down's rank)");
    LowRankUpdate out;
    out.rank = rank;
    out.down.assign(down.f32(), down.f32() + down.numel());
    out.up.assign(up.f32(), up.f32() + up.numel());
    out.scale = u.scale;
    return out;
}

}  // namespace

extern "C" {

SVDQ_API svdq_status svdq_linear_create(svdq_context* context, const svdq_linear_desc* desc, svdq_linear** out_linear) {
    return guarded(__func__, [&] {
        svdq_linear*& out = deref(out_linear, "out_linear");
        out = nullptr;
        const ContextCall call(context);
        svdq_context& ctx = call.context();
        const svdq_linear_desc& given = deref(desc, "desc");
        svdq_linear_desc d = read_versioned(given, svdq_linear_desc{}, "svdq_linear_desc");
        // A struct from before `format` existed meant the scheme's INT4 (or FLOAT).
        if (given.struct_size <= offsetof(svdq_linear_desc, format))
            d.format = d.scheme == SVDQ_SCHEME_FLOAT ? SVDQ_FORMAT_FLOAT : SVDQ_FORMAT_INT4;
        out = new svdq_linear(ctx, linear_weights_from_desc(d));
    });
}

SVDQ_API svdq_status svdq_linear_destroy(svdq_linear* linear) {
    return guarded(__func__, [&] { delete linear; });
}

SVDQ_API svdq_status svdq_linear_get_info(const svdq_linear* linear, svdq_linear_info* out_info) {
    return guarded(__func__, [&] {
        const svdq_linear& l = deref(linear, "linear");
        svdq_linear_info info{};
        info.scheme = l.scheme();
        info.activation = l.activation();
        info.rank = static_cast<int32_t>(l.rank());
        info.has_bias = l.has_bias();
        info.has_smooth = l.has_smooth();
        info.branch_execution = l.branch_execution();
        info.in_features = l.in_features();
        info.out_features = l.out_features();
        info.weight_bytes = l.weight_bytes();
        info.format = l.format();
        write_versioned(deref(out_info, "out_info"), info, "svdq_linear_info");
    });
}

SVDQ_API svdq_status svdq_linear_forward(svdq_context* context, const svdq_linear* linear, const svdq_tensor* x,
                                         svdq_tensor* y) {
    return guarded(__func__, [&] {
        const ContextCall call(context);
        svdq_context& ctx = call.context();
        const svdq_linear& l = deref(linear, "linear");
        const Tensor& xt = deref(x, "x");
        const Tensor& yt = deref(y, "y");
        const int64_t m = rows_of(xt, l.in_features(), "x");
        require(rows_of(yt, l.out_features(), "y") == m &&
                    std::equal(xt.shape().begin(), xt.shape().end() - 1, yt.shape().begin(), yt.shape().end() - 1),
                SVDQ_ERROR_SHAPE_MISMATCH,
                "y has shape " + yt.shape_string() + " but x " + xt.shape_string() + " needs y [..., " +
                    std::to_string(l.out_features()) + "] with the same leading dimensions");
        require(xt.data() != yt.data() || m == 0, SVDQ_ERROR_INVALID_ARGUMENT, "x and y must not share memory");
        l.forward(ctx, xt.f32(), m, yt.f32_mut());
    });
}

SVDQ_API svdq_status svdq_linear_set_low_rank_updates(svdq_context* context, svdq_linear* linear,
                                                      const svdq_low_rank_update* updates, int32_t count) {
    return guarded(__func__, [&] {
        const ContextCall call(context);
        svdq_linear& l = deref(linear, "linear");
        require(count >= 0, SVDQ_ERROR_INVALID_ARGUMENT, "count is " + std::to_string(count) + ", not >= 0");
        require(count == 0 || updates != nullptr, SVDQ_ERROR_INVALID_ARGUMENT, "updates is NULL but count is " + std::to_string(count));
        std::vector<LowRankUpdate> set;
        set.reserve(static_cast<size_t>(count));
        for (int32_t i = 0; i < count; ++i) set.push_back(low_rank_update_of(updates[i], i, l));
        l.set_low_rank_updates(call.context(), std::move(set));
    });
}

}  // extern "C"
