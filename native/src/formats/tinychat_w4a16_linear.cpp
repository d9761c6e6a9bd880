#include "formats/tinychat_w4a16_linear.h"

#include "core/error.h"
#include "core/tensor.h"
#include "formats/awq_packing.h"
#include "formats/float_codec.h"
#include "formats/layer_tensors.h"

namespace svdq {

namespace {

constexpr const char* kKind = "W4A16 layer (Nunchaku's W4Linear)";

void require_layer_shape(int64_t out, int64_t in, const std::string& prefix) {
    require(out > 0 && out % awq::kRowsPerPack == 0 && in > 0 && in % awq::kGroup == 0, SVDQ_ERROR_SHAPE_MISMATCH,
            prefix + ": a W4A16 layer needs out_features a multiple of 4 and in_features of 64, not [" + std::to_string(out) +
                ", " + std::to_string(in) + "]");
}

void expect_shape(const LayerTensors& t, const TensorEntry& e, const std::vector<int64_t>& shape, const std::string& why) {
    require(e.shape == shape, SVDQ_ERROR_SHAPE_MISMATCH,
            t.file().describe(e) + " has shape " + e.shape_string() + ", the config needs " + shape_string(shape) + why);
}

}  // namespace

int64_t tinychat_stored_groups(int64_t k, int64_t group_size) {
    require(group_size == 64 || group_size == 128, SVDQ_ERROR_INVALID_ARGUMENT,
            "TinyChat W4A16 groups of " + std::to_string(group_size) + " are not supported (64 or 128 are)");
    const int64_t packs = (k / group_size + 7) / 8;  // 8 groups' scales per int32 pack
    const int64_t multiple = 128 / group_size;        // packs rounded to 2 for group 64
    return (packs + multiple - 1) / multiple * multiple * 8;
}

NunchakuW4A16Linear read_tinychat_w4a16_linear(const SafeTensorsFile& file, const std::string& prefix, int64_t out,
                                               int64_t in, int64_t* group_size) {
    require_layer_shape(out, in, prefix);
    const LayerTensors t(file, prefix, kKind);
    const TensorEntry& qweight = t.required("qweight");
    t.expect_dtype(qweight, {SVDQ_DTYPE_I16});
    expect_shape(t, qweight, {out / awq::kRowsPerPack, in}, " (a W4Linear's qweight is [out / 4, in])");

    const TensorEntry& scales = t.required("scales");
    const TensorEntry& zeros = t.required("scaled_zeros");
    for (const TensorEntry* e : {&scales, &zeros}) t.expect_dtype(*e, {SVDQ_DTYPE_BF16, SVDQ_DTYPE_F16, SVDQ_DTYPE_F32});
    // The row count says the group size; group 128 only where it divides in.
    const int64_t rows = scales.shape.size() == 2 ? scales.shape[0] : -1;
    *group_size = in % 128 == 0 && rows == tinychat_stored_groups(in, 128) ? 128 : 64;
    const std::vector<int64_t> shape = {tinychat_stored_groups(in, *group_size), out};
    const std::string why = " (TinyChat's ceil_num_groups(" + std::to_string(in) + ", 64) rows, or " +
                            (in % 128 == 0 ? std::to_string(tinychat_stored_groups(in, 128)) + " for group 128" : "none other") +
                            ")";
    expect_shape(t, scales, shape, why);
    expect_shape(t, zeros, shape, why);

    NunchakuW4A16Linear layer;
    layer.out_features = out;
    layer.in_features = in;
    layer.float_dtype = scales.dtype;
    layer.packed = awq::unpack_weight(file.data(qweight), out, in);
    const std::vector<float> s = file.read_f32(scales), z = file.read_f32(zeros);
    const int64_t groups = layer.groups(), per_stored = *group_size / awq::kGroup;
    layer.scales.resize(static_cast<size_t>(out * groups));
    layer.zeros.resize(layer.scales.size());
    for (int64_t n = 0; n < out; ++n)
        for (int64_t g = 0; g < groups; ++g) {
            const size_t from = static_cast<size_t>(g / per_stored * out + n), to = static_cast<size_t>(n * groups + g);
            layer.scales[to] = s[from];
            layer.zeros[to] = z[from];
        }
    return layer;
}

void add_tinychat_w4a16_linear(SafeTensorsWriter& writer, const std::string& prefix, const NunchakuW4A16Linear& l,
                               int64_t group_size) {
    const int64_t out = l.out_features, in = l.in_features, groups = l.groups();
    require_layer_shape(out, in, prefix);
    const int64_t stored = tinychat_stored_groups(in, group_size), per_stored = group_size / awq::kGroup;
    require(in % group_size == 0, SVDQ_ERROR_INVALID_ARGUMENT,
            prefix + ": in_features " + std::to_string(in) + " is not a multiple of the group size " + std::to_string(group_size));
    require(l.bias.empty(), SVDQ_ERROR_INVALID_ARGUMENT, prefix + ": a W4Linear of a text encoder stores no bias");
    require(l.packed.size() == static_cast<size_t>(out * in / 2) && l.scales.size() == static_cast<size_t>(out * groups) &&
                l.zeros.size() == l.scales.size(),
            SVDQ_ERROR_SHAPE_MISMATCH, prefix + ": packed, scales or zeros do not fit [" + std::to_string(out) + ", " + std::to_string(in) + "]");
    std::vector<float> s(static_cast<size_t>(stored * out), 0.0f), z(s.size(), 0.0f);
    for (int64_t n = 0; n < out; ++n)
        for (int64_t g = 0; g < groups; ++g) {
            const size_t from = static_cast<size_t>(n * groups + g), first = static_cast<size_t>(n * groups + g / per_stored * per_stored);
            require(l.scales[from] == l.scales[first] && l.zeros[from] == l.zeros[first], SVDQ_ERROR_INVALID_ARGUMENT,
                    prefix + ": output channel " + std::to_string(n) + " has 64-groups of different scales or zeros within one " +
                        std::to_string(group_size) + "-group");
            const size_t to = static_cast<size_t>(g / per_stored * out + n);
            s[to] = l.scales[from];
            z[to] = l.zeros[from];
        }
    writer.add(prefix + ".qweight", SVDQ_DTYPE_I16, {out / awq::kRowsPerPack, in}, awq::pack_weight(l.packed.data(), out, in));
    writer.add(prefix + ".scales", l.float_dtype, {stored, out}, encode_from_f32(s, l.float_dtype));
    writer.add(prefix + ".scaled_zeros", l.float_dtype, {stored, out}, encode_from_f32(z, l.float_dtype));
}

}  // namespace svdq
