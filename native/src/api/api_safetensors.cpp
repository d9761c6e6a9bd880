#include <algorithm>
#include <string>
#include <vector>

#include "api/api_guard.h"
#include "core/tensor.h"
#include "formats/file_identity.h"
#include "formats/float_codec.h"
#include "formats/pending_file.h"
#include "formats/safetensors_file.h"
#include "formats/safetensors_stream_writer.h"
#include "formats/safetensors_writer.h"
#include "formats/checkpoint_flavour.h"

using namespace svdq;

// The opaque C handles.
struct svdq_safetensors {
    explicit svdq_safetensors(const std::string& path) : file(path) {
        for (const auto& entry : file.metadata()) metadata.push_back(&entry);
    }
    SafeTensorsFile file;
    std::vector<const std::pair<const std::string, std::string>*> metadata;  // for access by index
};

struct svdq_safetensors_writer {
    SafeTensorsWriter writer;
};

struct svdq_safetensors_stream_writer {
    explicit svdq_safetensors_stream_writer(const std::string& path) : writer(path) {}
    SafeTensorsStreamWriter writer;
};

namespace {

const char* text_arg(const char* s, const char* name) {
    require(s != nullptr, SVDQ_ERROR_INVALID_ARGUMENT, std::string(name) + " is NULL");
    return s;
}

std::vector<int64_t> shape_arg(const std::string& tensor, const int64_t* shape, int32_t ndim) {
    require(ndim >= 0 && ndim <= SVDQ_MAX_DIMS && (shape != nullptr || ndim == 0), SVDQ_ERROR_INVALID_ARGUMENT,
            "tensor '" + tensor + "': ndim " + std::to_string(ndim) + " is outside 0.." + std::to_string(SVDQ_MAX_DIMS) +
                " or shape is NULL");
    return std::vector<int64_t>(shape, shape + ndim);
}

size_t index_arg(int64_t index, size_t count, const char* what) {
    require(index >= 0 && static_cast<uint64_t>(index) < count, SVDQ_ERROR_INVALID_ARGUMENT,
            std::string(what) + " index " + std::to_string(index) + " is outside [0, " + std::to_string(count) + ")");
    return static_cast<size_t>(index);
}

}  // namespace

extern "C" {

SVDQ_API svdq_status svdq_safetensors_open(const char* path, svdq_safetensors** out_file) {
    return guarded(__func__, [&] {
        svdq_safetensors*& out = deref(out_file, "out_file");
        out = nullptr;
        out = new svdq_safetensors(text_arg(path, "path"));
    });
}

SVDQ_API svdq_status svdq_path_same_file(const char* a, const char* b, int32_t* out_same) {
    return guarded(__func__, [&] {
        int32_t& same = deref(out_same, "out_same");
        const std::optional<FileId> first = file_id(text_arg(a, "a")), second = file_id(text_arg(b, "b"));
        same = first && second && *first == *second ? 1 : 0;
    });
}

SVDQ_API svdq_status svdq_file_write(const char* path, const void* data, uint64_t size_bytes) {
    return guarded(__func__, [&] {
        const std::string target = text_arg(path, "path");
        require(data != nullptr || size_bytes == 0, SVDQ_ERROR_INVALID_ARGUMENT,
                "data is NULL with size_bytes " + std::to_string(size_bytes));
        PendingFile file(target, "partial");
        file.write(data, size_bytes);
        file.commit();
    });
}

SVDQ_API svdq_status svdq_file_check_writable(const char* path) {
    // The refusals are PendingFile's; its destructor removes the unused temporary.
    return guarded(__func__, [&] { PendingFile probe(text_arg(path, "path"), "partial"); });
}

SVDQ_API svdq_status svdq_safetensors_destroy(svdq_safetensors* file) {
    return guarded(__func__, [&] { delete file; });
}

SVDQ_API svdq_status svdq_safetensors_get_info(const svdq_safetensors* file, svdq_safetensors_info* out_info) {
    return guarded(__func__, [&] {
        const SafeTensorsFile& f = deref(file, "file").file;
        svdq_safetensors_info info{};
        info.tensor_count = static_cast<int64_t>(f.tensors().size());
        info.metadata_count = static_cast<int64_t>(f.metadata().size());
        info.file_bytes = f.file_size();
        info.data_offset = f.data_offset();
        write_versioned(deref(out_info, "out_info"), info, "svdq_safetensors_info");
    });
}

SVDQ_API svdq_status svdq_safetensors_get_metadata(const svdq_safetensors* file, int64_t index, const char** out_key,
                                                   const char** out_value) {
    return guarded(__func__, [&] {
        const svdq_safetensors& f = deref(file, "file");
        const auto& entry = *f.metadata[index_arg(index, f.metadata.size(), "metadata")];
        deref(out_key, "out_key") = entry.first.c_str();
        deref(out_value, "out_value") = entry.second.c_str();
    });
}

SVDQ_API svdq_status svdq_safetensors_get_tensor(const svdq_safetensors* file, int64_t index,
                                                 svdq_safetensors_tensor* out_tensor) {
    return guarded(__func__, [&] {
        const SafeTensorsFile& f = deref(file, "file").file;
        svdq_safetensors_tensor out{};
        const TensorEntry& t = f.tensors()[index_arg(index, f.tensors().size(), "tensor")];
        out.dtype = t.dtype;
        out.name = t.name.c_str();
        out.ndim = static_cast<int32_t>(t.shape.size());
        std::fill(std::begin(out.shape), std::end(out.shape), int64_t{0});
        std::copy(t.shape.begin(), t.shape.end(), out.shape);
        out.size_bytes = t.size_bytes();
        out.data = f.data(t);
        write_versioned(deref(out_tensor, "out_tensor"), out, "svdq_safetensors_tensor");
    });
}

SVDQ_API svdq_status svdq_safetensors_find_tensor(const svdq_safetensors* file, const char* name, int64_t* out_index) {
    return guarded(__func__, [&] {
        const SafeTensorsFile& f = deref(file, "file").file;
        int64_t& out = deref(out_index, "out_index");
        const TensorEntry* t = f.find(text_arg(name, "name"));
        out = t == nullptr ? -1 : static_cast<int64_t>(t - f.tensors().data());
    });
}

SVDQ_API svdq_status svdq_safetensors_read_f32(const svdq_safetensors* file, int64_t index, float* out_values,
                                               uint64_t count) {
    return guarded(__func__, [&] {
        const SafeTensorsFile& f = deref(file, "file").file;
        const TensorEntry& t = f.tensors()[index_arg(index, f.tensors().size(), "tensor")];
        require(count == static_cast<uint64_t>(t.numel), SVDQ_ERROR_SHAPE_MISMATCH,
                f.describe(t) + " holds " + std::to_string(t.numel) + " values but count is " + std::to_string(count));
        require(out_values != nullptr || count == 0, SVDQ_ERROR_INVALID_ARGUMENT, "out_values is NULL");
        decode_to_f32(t.dtype, f.data(t), static_cast<size_t>(count), out_values, f.describe(t).c_str());
    });
}

SVDQ_API svdq_status svdq_checkpoint_inspect(const svdq_safetensors* file, svdq_checkpoint_info* out_info) {
    return guarded(__func__, [&] {
        const SafeTensorsFile& f = deref(file, "file").file;
        svdq_checkpoint_info out{};
        const CheckpointInfo info = inspect_checkpoint(f);
        out.flavour = info.flavour;
        out.format = info.format;
        out.keys = info.keys;
        out.w4a4_layers = info.w4a4_layers;
        out.w4a16_layers = info.w4a16_layers;
        out.rank = info.rank;
        out.parameter_count = info.parameter_count;
        write_versioned(deref(out_info, "out_info"), out, "svdq_checkpoint_info");
    });
}

SVDQ_API svdq_status svdq_safetensors_writer_create(svdq_safetensors_writer** out_writer) {
    return guarded(__func__, [&] {
        svdq_safetensors_writer*& out = deref(out_writer, "out_writer");
        out = nullptr;
        out = new svdq_safetensors_writer();
    });
}

SVDQ_API svdq_status svdq_safetensors_writer_destroy(svdq_safetensors_writer* writer) {
    return guarded(__func__, [&] { delete writer; });
}

SVDQ_API svdq_status svdq_safetensors_writer_set_metadata(svdq_safetensors_writer* writer, const char* key,
                                                          const char* value) {
    return guarded(__func__, [&] {
        deref(writer, "writer").writer.set_metadata(text_arg(key, "key"), text_arg(value, "value"));
    });
}

SVDQ_API svdq_status svdq_safetensors_writer_add_tensor(svdq_safetensors_writer* writer, const char* name,
                                                        int32_t dtype, const int64_t* shape, int32_t ndim,
                                                        const void* data, uint64_t size_bytes) {
    return guarded(__func__, [&] {
        SafeTensorsWriter& w = deref(writer, "writer").writer;
        const std::string tensor = text_arg(name, "name");
        w.add_copy(tensor, dtype, shape_arg(tensor, shape, ndim), data, size_bytes);
    });
}

SVDQ_API svdq_status svdq_safetensors_writer_save(const svdq_safetensors_writer* writer, const char* path) {
    return guarded(__func__, [&] { deref(writer, "writer").writer.save(text_arg(path, "path")); });
}

SVDQ_API svdq_status svdq_safetensors_stream_writer_create(const char* path, svdq_safetensors_stream_writer** out_writer) {
    return guarded(__func__, [&] {
        svdq_safetensors_stream_writer*& out = deref(out_writer, "out_writer");
        out = nullptr;
        out = new svdq_safetensors_stream_writer(text_arg(path, "path"));
    });
}

SVDQ_API svdq_status svdq_safetensors_stream_writer_destroy(svdq_safetensors_stream_writer* writer) {
    return guarded(__func__, [&] { delete writer; });
}

SVDQ_API svdq_status svdq_safetensors_stream_writer_set_metadata(svdq_safetensors_stream_writer* writer,
                                                                 const char* key, const char* value) {
    return guarded(__func__, [&] {
        deref(writer, "writer").writer.set_metadata(text_arg(key, "key"), text_arg(value, "value"));
    });
}

SVDQ_API svdq_status svdq_safetensors_stream_writer_add_tensor(svdq_safetensors_stream_writer* writer,
                                                               const char* name, int32_t dtype, const int64_t* shape,
                                                               int32_t ndim, const void* data, uint64_t size_bytes) {
    return guarded(__func__, [&] {
        SafeTensorsStreamWriter& w = deref(writer, "writer").writer;
        const std::string tensor = text_arg(name, "name");
        w.add(tensor, dtype, shape_arg(tensor, shape, ndim), data, size_bytes);
    });
}

SVDQ_API svdq_status svdq_safetensors_stream_writer_finish(svdq_safetensors_stream_writer* writer) {
    return guarded(__func__, [&] { deref(writer, "writer").writer.finish(); });
}

}  // extern "C"
