// The text encoders' typed doors: CLIP (text_encoder/) and T5 (text_encoder_2/),
// loaded from their own folder or a FLUX pipeline folder, fed token ids.
#include <string>
#include <vector>

#include "api/api_guard.h"
#include "backend/context.h"
#include "core/tensor.h"
#include "formats/pipeline_folder.h"
#include "models/clip/clip_text_model.h"
#include "models/t5/t5_encoder.h"

using namespace svdq;

namespace {

// Token ids [B, L] (I64 or I32) as the int64 values the encoders read.
struct TokenIds {
    std::vector<int64_t> values;
    int64_t batch = 0, length = 0;
};

TokenIds token_ids(const svdq_tensor* tensor, const std::string& what) {
    const Tensor& t = deref(tensor, what.c_str());
    require(t.dtype() == SVDQ_DTYPE_I64 || t.dtype() == SVDQ_DTYPE_I32, SVDQ_ERROR_DTYPE,
            what + " is " + dtype_name(t.dtype()) + "; it must be I64 or I32");
    require(t.ndim() == 2, SVDQ_ERROR_SHAPE_MISMATCH, what + " has shape " + t.shape_string() + "; it must be [B, L]");
    TokenIds ids;
    ids.batch = t.dim(0);
    ids.length = t.dim(1);
    ids.values.resize(static_cast<size_t>(t.numel()));
    for (size_t i = 0; i < ids.values.size(); ++i)
        ids.values[i] = t.dtype() == SVDQ_DTYPE_I64 ? static_cast<const int64_t*>(t.data())[i] : static_cast<const int32_t*>(t.data())[i];
    return ids;
}

}  // namespace

struct svdq_clip : ClipTextModel {
    svdq_clip(Context& ctx, const std::string& path) : ClipTextModel(ctx, pipeline_component(path, "text_encoder")) {}
};

struct svdq_t5 : T5Encoder {
    svdq_t5(Context& ctx, const std::string& path, const T5LoadOptions& options)
        : T5Encoder(ctx, pipeline_component(path, "text_encoder_2"), options) {}
};

extern "C" {

SVDQ_API svdq_status svdq_clip_load(svdq_context* context, const char* path, svdq_clip** out_clip) {
    return guarded(__func__, [&] {
        svdq_clip*& out = deref(out_clip, "out_clip");
        out = nullptr;
        const ContextCall call(context);
        deref(path, "path");
        out = new svdq_clip(call.context(), path);
    });
}

SVDQ_API svdq_status svdq_clip_destroy(svdq_clip* clip) {
    return guarded(__func__, [&] { delete clip; });
}

SVDQ_API svdq_status svdq_clip_get_info(const svdq_clip* clip, svdq_clip_info* out_info) {
    return guarded(__func__, [&] {
        const svdq_clip& m = deref(clip, "clip");
        const ClipTextConfig& c = m.config();
        svdq_clip_info info{};
        info.hidden_size = static_cast<int32_t>(c.hidden_size);
        info.intermediate_size = static_cast<int32_t>(c.intermediate_size);
        info.num_hidden_layers = static_cast<int32_t>(c.num_hidden_layers);
        info.num_attention_heads = static_cast<int32_t>(c.num_attention_heads);
        info.max_position_embeddings = static_cast<int32_t>(c.max_position_embeddings);
        info.vocab_size = c.vocab_size;
        info.eos_token_id = c.eos_token_id;
        info.weight_bytes = m.weight_bytes();
        write_versioned(deref(out_info, "out_info"), info, "svdq_clip_info");
    });
}

SVDQ_API svdq_status svdq_clip_forward(svdq_context* context, const svdq_clip* clip, const svdq_tensor* ids,
                                       svdq_tensor* out_last_hidden_state, svdq_tensor* out_pooled) {
    return guarded(__func__, [&] {
        const ContextCall call(context);
        const svdq_clip& m = deref(clip, "clip");
        const TokenIds in = token_ids(ids, "ids");
        require(out_last_hidden_state != nullptr || out_pooled != nullptr, SVDQ_ERROR_INVALID_ARGUMENT,
                "out_last_hidden_state and out_pooled are both NULL; ask for at least one");
        const int64_t d = m.config().hidden_size;
        float* hidden = out_last_hidden_state == nullptr
                            ? nullptr
                            : f32_output(*out_last_hidden_state, {in.batch, in.length, d}, "out_last_hidden_state");
        float* pooled = out_pooled == nullptr ? nullptr : f32_output(*out_pooled, {in.batch, d}, "out_pooled");
        m.forward(call.context(), in.values.data(), in.batch, in.length, hidden, pooled);
    });
}

SVDQ_API svdq_status svdq_t5_load_options_init(svdq_t5_load_options* options) {
    return guarded(__func__, [&] {
        svdq_t5_load_options& o = deref(options, "options");
        o = svdq_t5_load_options{};
        o.struct_size = sizeof(svdq_t5_load_options);
        o.scheme = SVDQ_SCHEME_FLOAT;
    });
}

SVDQ_API svdq_status svdq_t5_load(svdq_context* context, const char* path, const svdq_t5_load_options* options,
                                  svdq_t5** out_t5) {
    return guarded(__func__, [&] {
        svdq_t5*& out = deref(out_t5, "out_t5");
        out = nullptr;
        const ContextCall call(context);
        const std::string p = &deref(path, "path");
        svdq_t5_load_options o;
        svdq_t5_load_options_init(&o);
        if (options != nullptr) o = read_versioned(*options, o, "svdq_t5_load_options");
        // The encoder refuses schemes other than FLOAT and W4A16 by name.
        out = new svdq_t5(call.context(), p, T5LoadOptions{scheme_value(o.scheme, "scheme")});
    });
}

SVDQ_API svdq_status svdq_t5_destroy(svdq_t5* t5) {
    return guarded(__func__, [&] { delete t5; });
}

SVDQ_API svdq_status svdq_t5_get_info(const svdq_t5* t5, svdq_t5_info* out_info) {
    return guarded(__func__, [&] {
        const svdq_t5& m = deref(t5, "t5");
        const T5Config& c = m.config();
        svdq_t5_info info{};
        info.d_model = static_cast<int32_t>(c.d_model);
        info.d_kv = static_cast<int32_t>(c.d_kv);
        info.d_ff = static_cast<int32_t>(c.d_ff);
        info.num_layers = static_cast<int32_t>(c.num_layers);
        info.num_heads = static_cast<int32_t>(c.num_heads);
        info.scheme = m.scheme();
        info.vocab_size = c.vocab_size;
        info.weight_bytes = m.weight_bytes();
        write_versioned(deref(out_info, "out_info"), info, "svdq_t5_info");
    });
}

SVDQ_API svdq_status svdq_t5_forward(svdq_context* context, const svdq_t5* t5, const svdq_tensor* ids,
                                     const svdq_tensor* attention_mask, svdq_tensor* out) {
    return guarded(__func__, [&] {
        const ContextCall call(context);
        const svdq_t5& m = deref(t5, "t5");
        const TokenIds in = token_ids(ids, "ids");
        TokenIds mask;
        if (attention_mask != nullptr) {
            mask = token_ids(attention_mask, "attention_mask");
            require(mask.batch == in.batch && mask.length == in.length, SVDQ_ERROR_SHAPE_MISMATCH,
                    "attention_mask has shape " + shape_string({mask.batch, mask.length}) + ", the ids' is " +
                        shape_string({in.batch, in.length}));
        }
        float* y = output_tensor(out, {in.batch, in.length, m.config().d_model});
        m.forward(call.context(), in.values.data(), in.batch, in.length, attention_mask == nullptr ? nullptr : mask.values.data(), y);
    });
}

SVDQ_API svdq_status svdq_t5_save(const svdq_t5* t5, const char* path) {
    return guarded(__func__, [&] {
        deref(t5, "t5").save(&deref(path, "path"));
    });
}

}  // extern "C"
