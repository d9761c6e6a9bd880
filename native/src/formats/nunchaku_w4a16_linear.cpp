#include "formats/nunchaku_w4a16_linear.h"

#include <algorithm>

#include "core/error.h"
#include "formats/float_codec.h"
#include "formats/layer_tensors.h"
#include "formats/awq_packing.h"
#include "formats/nunchaku_packing.h"

namespace svdq {

namespace {

constexpr const char* kKind = "W4A16 layer";

// [N, G] canonical <-> [G, N] in the file: a plain transpose.
auto transposed(int64_t n) {
    return [n](int64_t row, int64_t g) { return g * n + row; };
}

}  // namespace

void describe_nunchaku_w4a16_linear(const SafeTensorsFile& file, const std::string& prefix, int64_t* out_features,
                                    int64_t* in_features) {
    const LayerTensors t(file, prefix, kKind);
    const TensorEntry& qweight = t.required("qweight");
    t.expect_dtype(qweight, {SVDQ_DTYPE_I32});
    if (qweight.shape.size() != 2 || qweight.shape[0] == 0 || (qweight.shape[1] * 2) % awq::kGroup != 0 || qweight.shape[1] == 0)
        t.fail_tensor(qweight, "has shape " + qweight.shape_string() + "; an AWQ qweight is [N/4, K/2] with K a multiple of 64");
    const int64_t n = qweight.shape[0] * awq::kRowsPerPack, k = qweight.shape[1] * 2;
    const TensorEntry& wscales = t.required("wscales");
    const TensorEntry& wzeros = t.required("wzeros");
    for (const TensorEntry* e : {&wscales, &wzeros}) {
        t.expect_dtype(*e, {SVDQ_DTYPE_BF16, SVDQ_DTYPE_F16, SVDQ_DTYPE_F32});
        // deepcompressor may pad the groups to a multiple of 16 rows; the extra rows are unused.
        if (e->shape.size() != 2 || e->shape[1] != n || e->shape[0] < k / awq::kGroup)
            t.fail_tensor(*e, "has shape " + e->shape_string() + " but the W4A16 layer '" + prefix + "' needs [" +
                                  std::to_string(k / awq::kGroup) + ", " + std::to_string(n) + "]");
    }
    if (const TensorEntry* bias = t.optional("bias")) {
        t.expect_dtype(*bias, {SVDQ_DTYPE_BF16, SVDQ_DTYPE_F16, SVDQ_DTYPE_F32});
        t.expect_shape(*bias, {n});
    }
    *out_features = n;
    *in_features = k;
}

NunchakuW4A16Linear read_nunchaku_w4a16_linear(const SafeTensorsFile& file, const std::string& prefix) {
    NunchakuW4A16Linear layer;
    describe_nunchaku_w4a16_linear(file, prefix, &layer.out_features, &layer.in_features);
    const LayerTensors t(file, prefix, kKind);
    const int64_t n = layer.out_features, k = layer.in_features, groups = layer.groups();
    layer.packed = awq::unpack_weight(file.data(t.required("qweight")), n, k);
    const TensorEntry& wscales = t.required("wscales");
    layer.float_dtype = wscales.dtype;
    // Rows past K/64 are padding; the first groups * n values are the real ones.
    layer.scales = nunchaku::gather(file.read_f32(wscales).data(), n, groups, transposed(n));
    layer.zeros = nunchaku::gather(file.read_f32(t.required("wzeros")).data(), n, groups, transposed(n));
    if (const TensorEntry* bias = t.optional("bias")) layer.bias = file.read_f32(*bias);
    return layer;
}

void add_nunchaku_w4a16_linear(SafeTensorsWriter& writer, const std::string& prefix, const NunchakuW4A16Linear& l) {
    const int64_t n = l.out_features, k = l.in_features, groups = l.groups();
    require(n > 0 && n % awq::kRowsPerPack == 0 && k > 0 && k % awq::kGroup == 0, SVDQ_ERROR_SHAPE_MISMATCH,
            prefix + ": a W4A16 layer needs N a multiple of 4 and K of 64, not [" + std::to_string(n) + ", " +
                std::to_string(k) + "]");
    require(l.packed.size() == static_cast<size_t>(n * k / 2) && l.scales.size() == static_cast<size_t>(n * groups) &&
                l.zeros.size() == l.scales.size() && (l.bias.empty() || l.bias.size() == static_cast<size_t>(n)),
            SVDQ_ERROR_SHAPE_MISMATCH, prefix + ": packed, scales, zeros or bias do not fit [N, K] = [" + std::to_string(n) +
                                           ", " + std::to_string(k) + "]");
    writer.add(prefix + ".qweight", SVDQ_DTYPE_I32, {n / awq::kRowsPerPack, k / 2}, awq::pack_weight(l.packed.data(), n, k));
    writer.add(prefix + ".wscales", l.float_dtype, {groups, n},
               encode_from_f32(nunchaku::scatter(l.scales.data(), n, groups, transposed(n)), l.float_dtype));
    writer.add(prefix + ".wzeros", l.float_dtype, {groups, n},
               encode_from_f32(nunchaku::scatter(l.zeros.data(), n, groups, transposed(n)), l.float_dtype));
    if (!l.bias.empty()) writer.add(prefix + ".bias", l.float_dtype, {n}, encode_from_f32(l.bias, l.float_dtype));
}

namespace {

bool is_scale_chunk(int64_t c, int chunks) { return c == 1 || c == chunks - 2; }

// Reorders output rows: row `to_file ? j * C + c : c * N / C + j` of the
// result is the other one of the source; the bias gains `bias_delta` on the
// scale chunks.
NunchakuW4A16Linear reorder_rows(const NunchakuW4A16Linear& l, int chunks, bool to_file, float bias_delta) {
    const int64_t n = l.out_features;
    require(chunks > 1 && n % chunks == 0, SVDQ_ERROR_SHAPE_MISMATCH,
            "an adaLN layer with " + std::to_string(n) + " outputs cannot hold " + std::to_string(chunks) + " chunks");
    const int64_t per_chunk = n / chunks, row_bytes = l.in_features / 2, groups = l.groups();
    NunchakuW4A16Linear out = l;
    for (int64_t c = 0; c < chunks; ++c)
        for (int64_t j = 0; j < per_chunk; ++j) {
            const int64_t diffusers_row = c * per_chunk + j, file_row = j * chunks + c;
            const int64_t dst = to_file ? file_row : diffusers_row, src = to_file ? diffusers_row : file_row;
            std::copy_n(l.packed.begin() + src * row_bytes, row_bytes, out.packed.begin() + dst * row_bytes);
            std::copy_n(l.scales.begin() + src * groups, groups, out.scales.begin() + dst * groups);
            std::copy_n(l.zeros.begin() + src * groups, groups, out.zeros.begin() + dst * groups);
            if (!l.bias.empty())
                out.bias[static_cast<size_t>(dst)] = l.bias[static_cast<size_t>(src)] + (is_scale_chunk(c, chunks) ? bias_delta : 0.0f);
        }
    return out;
}

}  // namespace

NunchakuW4A16Linear adanorm_from_nunchaku(const NunchakuW4A16Linear& layer, int chunks) {
    return reorder_rows(layer, chunks, false, -1.0f);
}

NunchakuW4A16Linear adanorm_to_nunchaku(const NunchakuW4A16Linear& layer, int chunks) {
    return reorder_rows(layer, chunks, true, 1.0f);
}

}  // namespace svdq
