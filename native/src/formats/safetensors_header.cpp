#include "formats/safetensors_header.h"

#include <algorithm>
#include <limits>
#include <string_view>

#include "core/error.h"
#include "core/tensor.h"
#include "formats/json_text.h"

namespace svdq {

namespace {

using json = nlohmann::json;

constexpr int32_t kDtypeCount = SVDQ_DTYPE_F8_E5M2 + 1;

// A name for an error message, NULs shown as \0.
std::string printable(const std::string& name) {
    std::string out;
    for (char c : name) out += c == '\0' ? std::string("\\0") : std::string(1, c);
    return out;
}

class HeaderParser {
public:
    HeaderParser(const uint8_t* bytes, uint64_t size, const std::string& file) : bytes_(bytes), size_(size), file_(file) {}

    SafeTensorsHeader parse() {
        require(size_ >= 8, SVDQ_ERROR_FORMAT,
                file_ + ": the file is " + std::to_string(size_) +
                    " bytes long; a safetensors file starts with an 8-byte header length");
        uint64_t length = 0;
        for (int i = 7; i >= 0; --i) length = (length << 8) | bytes_[i];
        require(length <= size_ - 8, SVDQ_ERROR_FORMAT,
                file_ + ": the header length " + std::to_string(length) + " runs past the end of the file (" +
                    std::to_string(size_) + " bytes): the file is truncated or not safetensors");
        require(length <= kMaxSafeTensorsHeaderBytes, SVDQ_ERROR_FORMAT,
                file_ + ": the header length " + std::to_string(length) + " exceeds the limit of " +
                    std::to_string(kMaxSafeTensorsHeaderBytes) + " bytes");
        require(length > 0 && bytes_[8] == '{', SVDQ_ERROR_FORMAT,
                file_ + ": the header does not start with '{': not a safetensors file");

        SafeTensorsHeader header;
        header.data_offset = 8 + length;
        data_size_ = size_ - header.data_offset;
        const json root = parse_json(std::string_view(reinterpret_cast<const char*>(bytes_ + 8), length), file_ + ": the header");
        require(root.is_object(), SVDQ_ERROR_FORMAT, file_ + ": the header is not a JSON object");
        for (const auto& [name, value] : root.items()) {
            // C strings end at a NUL: two names equal up to one would be one
            // name to every caller of the C API.
            if (name.find('\0') != std::string::npos) fail_tensor(printable(name), "the name holds a NUL character");
            if (name == "__metadata__")
                header.metadata = parse_metadata(value);
            else
                header.tensors.push_back(parse_entry(name, value));
        }
        check_layout(header.tensors);
        std::sort(header.tensors.begin(), header.tensors.end(),
                  [](const TensorEntry& a, const TensorEntry& b) { return a.name < b.name; });
        return header;
    }

private:
    [[noreturn]] void fail_tensor(const std::string& name, const std::string& what, svdq_status status = SVDQ_ERROR_FORMAT) const {
        fail(status, file_ + ": tensor '" + name + "': " + what);
    }

    std::map<std::string, std::string> parse_metadata(const json& value) const {
        require(value.is_object(), SVDQ_ERROR_FORMAT, file_ + ": __metadata__ is not a JSON object");
        std::map<std::string, std::string> metadata;
        for (const auto& [key, text] : value.items()) {
            require(text.is_string(), SVDQ_ERROR_FORMAT,
                    file_ + ": __metadata__ entry '" + key + "' is not a string (" + text.type_name() + ")");
            require(key.find('\0') == std::string::npos, SVDQ_ERROR_FORMAT,
                    file_ + ": __metadata__ key '" + printable(key) + "' holds a NUL character");
            require(text.get<std::string>().find('\0') == std::string::npos, SVDQ_ERROR_FORMAT,
                    file_ + ": __metadata__ entry '" + key + "' holds a NUL character");
            metadata.emplace(key, text.get<std::string>());
        }
        return metadata;
    }

    uint64_t unsigned_field(const std::string& name, const json& v, const char* field) const {
        if (!v.is_number_unsigned() || v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            fail_tensor(name, std::string(field) + " holds " + v.dump() + ", not a non-negative integer");
        return v.get<uint64_t>();
    }

    TensorEntry parse_entry(const std::string& name, const json& value) const {
        if (!value.is_object()) fail_tensor(name, "the entry is not a JSON object");
        for (const auto& [key, unused] : value.items()) {
            if (key != "dtype" && key != "shape" && key != "data_offsets") fail_tensor(name, "unexpected field '" + key + "'");
        }
        for (const char* field : {"dtype", "shape", "data_offsets"}) {
            if (!value.contains(field)) fail_tensor(name, std::string("the entry has no '") + field + "'");
        }
        TensorEntry t;
        t.name = name;

        const json& dtype = value["dtype"];
        if (!dtype.is_string()) fail_tensor(name, "dtype is not a string");
        t.dtype = dtype_from_safetensors_name(dtype.get<std::string>());
        if (t.dtype < 0) fail_tensor(name, "unknown dtype '" + dtype.get<std::string>() + "'", SVDQ_ERROR_DTYPE);

        const json& shape = value["shape"];
        if (!shape.is_array()) fail_tensor(name, "shape is not an array");
        if (shape.size() > SVDQ_MAX_DIMS)
            fail_tensor(name, "shape has " + std::to_string(shape.size()) + " dimensions; at most " +
                                  std::to_string(SVDQ_MAX_DIMS) + " are supported");
        const auto elem = static_cast<uint64_t>(dtype_size(t.dtype));
        uint64_t bytes = elem;  // stays below 2^63: checked at each step
        for (const json& d : shape) {
            const uint64_t dim = unsigned_field(name, d, "shape");
            t.shape.push_back(static_cast<int64_t>(dim));
            if (dim != 0 && bytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / dim)
                fail_tensor(name, "shape " + t.shape_string() + " is too large");
            bytes *= dim;
        }
        t.numel = static_cast<int64_t>(bytes / elem);

        const json& offsets = value["data_offsets"];
        if (!offsets.is_array() || offsets.size() != 2) fail_tensor(name, "data_offsets is not an array of two integers");
        t.begin = unsigned_field(name, offsets[0], "data_offsets");
        t.end = unsigned_field(name, offsets[1], "data_offsets");
        if (t.begin > t.end)
            fail_tensor(name, "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "] are out of order");
        if (t.end > data_size_)
            fail_tensor(name, "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                                  ") run past the end of the data area (" + std::to_string(data_size_) +
                                  " bytes): the file is truncated");
        if (t.size_bytes() != bytes)
            fail_tensor(name, "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + ") hold " +
                                  std::to_string(t.size_bytes()) + " bytes but a " + dtype_name(t.dtype) + " tensor of shape " +
                                  t.shape_string() + " needs " + std::to_string(bytes));
        return t;
    }

    // The byte ranges, in file order, must tile the data area exactly, as the
    // reference implementation requires: no overlap, no gap, nothing after.
    void check_layout(std::vector<TensorEntry>& tensors) const {
        std::sort(tensors.begin(), tensors.end(), [](const TensorEntry& a, const TensorEntry& b) {
            return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
        });
        uint64_t position = 0;
        const TensorEntry* previous = nullptr;
        for (const TensorEntry& t : tensors) {
            const std::string range = "[" + std::to_string(t.begin) + ", " + std::to_string(t.end) + ")";
            if (t.begin < position)
                fail_tensor(t.name, "data_offsets " + range + " overlap tensor '" + previous->name + "' [" +
                                        std::to_string(previous->begin) + ", " + std::to_string(previous->end) + ")");
            if (t.begin > position)
                fail_tensor(t.name, "data_offsets " + range + " leave bytes " + std::to_string(position) + ".." +
                                        std::to_string(t.begin) + " of the data area unused (" +
                                        (previous ? "after tensor '" + previous->name + "'" : std::string("at its start")) +
                                        "); safetensors data must be contiguous");
            if (t.end > position) {
                position = t.end;
                previous = &t;
            }
        }
        require(position == data_size_, SVDQ_ERROR_FORMAT,
                file_ + ": the data area holds " + std::to_string(data_size_) + " bytes but the tensors cover " +
                    std::to_string(position) + (previous ? " (the last is '" + previous->name + "')" : std::string()));
    }

    const uint8_t* bytes_;
    uint64_t size_;
    const std::string& file_;
    uint64_t data_size_ = 0;
};

}  // namespace

std::string TensorEntry::shape_string() const { return svdq::shape_string(shape); }

int32_t dtype_from_safetensors_name(const std::string& name) {
    for (int32_t d = 0; d < kDtypeCount; ++d)
        if (name == dtype_name(d)) return d;
    return -1;
}

SafeTensorsHeader parse_safetensors_header(const uint8_t* bytes, uint64_t size, const std::string& file) {
    return HeaderParser(bytes, size, file).parse();
}

}  // namespace svdq
