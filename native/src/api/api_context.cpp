#include "api/api_guard.h"
#include "backend/context.h"
#include "backend/devices.h"

using namespace svdq;

extern "C" {

SVDQ_API svdq_status svdq_context_options_init(svdq_context_options* options) {
    return guarded(__func__, [&] {
        svdq_context_options& o = deref(options, "options");
        o = svdq_context_options{};
        o.struct_size = sizeof(svdq_context_options);
        o.backend = SVDQ_BACKEND_CPU;
        o.cpu_level = SVDQ_CPU_AUTO;
        o.log_level = SVDQ_LOG_INFO;
    });
}

SVDQ_API svdq_status svdq_context_create(const svdq_context_options* options, svdq_context** out_context) {
    return guarded(__func__, [&] {
        svdq_context*& out = deref(out_context, "out_context");
        out = nullptr;
        svdq_context_options o;
        svdq_context_options_init(&o);
        if (options != nullptr) {
            o = read_versioned(*options, o, "svdq_context_options");
        }
        out = new svdq_context(o);
    });
}

SVDQ_API svdq_status svdq_context_destroy(svdq_context* context) {
    return guarded(__func__, [&] {
        require(context == nullptr || !context->in_call.load(), SVDQ_ERROR_INVALID_ARGUMENT,
                "context is running a call on another thread; destroy it after that call returns");
        delete context;
    });
}

SVDQ_API svdq_status svdq_context_get_info(const svdq_context* context, svdq_context_info* out_info) {
    return guarded(__func__, [&] {
        const svdq_context& ctx = deref(context, "context");
        svdq_context_info info{};
        info.backend = ctx.backend().kind();
        info.num_threads = const_cast<svdq_context&>(ctx).pool().size();
        info.cpu_level = ctx.backend().cpu_level();
        info.device = ctx.device();
        write_versioned(deref(out_info, "out_info"), info, "svdq_context_info");
    });
}

SVDQ_API svdq_status svdq_backend_device_count(int32_t backend, int32_t* out_count) {
    return guarded(__func__, [&] {
        int32_t& out = deref(out_count, "out_count");
        out = 0;
        out = device_count(static_cast<svdq_backend>(backend));
    });
}

SVDQ_API svdq_status svdq_backend_device_info(int32_t backend, int32_t ordinal, svdq_device_info* out_info) {
    return guarded(__func__, [&] {
        svdq_device_info& out = deref(out_info, "out_info");
        svdq_device_info info = device_info(static_cast<svdq_backend>(backend), ordinal);
        write_versioned(out, info, "svdq_device_info");
    });
}

}  // extern "C"
