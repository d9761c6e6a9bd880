#include "formats/nunchaku_linear.h"

#include "core/error.h"
#include "core/number_format.h"
#include "core/tensor.h"
#include "formats/float_codec.h"
#include "formats/layer_tensors.h"
#include "formats/matrix_pad.h"
#include "formats/nunchaku_packing.h"

namespace svdq {

namespace {

using nunchaku::kChannelBlock;
using nunchaku::kLowRankTile;
using nunchaku::Keys;

constexpr const char* kKind = "W4A4 layer";
constexpr uint8_t kE4M3One = 0x38;  // 1.0 in FP8 E4M3: the padding of NVFP4 scales

int64_t group_size(svdq_number_format format) { return format == SVDQ_FORMAT_NVFP4 ? kNvfp4Group : kInt4Group; }

Keys detect_keys(const LayerTensors& t) {
    const auto v0 = nunchaku::w4a4_tensor_names(Keys::V0);
    const auto diffusers = nunchaku::w4a4_tensor_names(Keys::Diffusers);
    if (t.optional(v0.smooth) || t.optional(v0.lora_down) || t.optional(v0.lora_up)) return Keys::V0;
    if (t.optional(diffusers.smooth) || t.optional(diffusers.lora_down) || t.optional(diffusers.lora_up))
        return Keys::Diffusers;
    t.required(v0.smooth);  // neither style: report the v0 name as missing
    return Keys::V0;
}

// Channel vectors (bias, smooth, wcscales) in the file's 128-block order.
std::vector<float> read_channels(const LayerTensors& t, const TensorEntry& e, int64_t count) {
    const std::vector<float> stored = t.file().read_f32(e);
    return nunchaku::gather(stored.data(), 1, count, [](int64_t, int64_t c) { return nunchaku::channel_position(c); });
}

std::vector<float> read_optional_channels(const LayerTensors& t, const char* suffix, int64_t count) {
    const TensorEntry* e = t.optional(suffix);
    return e == nullptr ? std::vector<float>() : read_channels(t, *e, count);
}

}  // namespace

NunchakuLinearShape describe_nunchaku_linear(const SafeTensorsFile& file, const std::string& prefix) {
    const LayerTensors t(file, prefix, kKind);
    NunchakuLinearShape s;
    s.keys = detect_keys(t);
    const auto names = nunchaku::w4a4_tensor_names(s.keys);

    const TensorEntry& qweight = t.required("qweight");
    t.expect_dtype(qweight, {SVDQ_DTYPE_I8, SVDQ_DTYPE_U8});
    if (qweight.shape.size() != 2) t.fail_tensor(qweight, "has shape " + qweight.shape_string() + "; qweight is [N, K/2]");
    s.out_features = qweight.shape[0];
    s.in_features = qweight.shape[1] * 2;
    if (s.out_features % kChannelBlock != 0 || s.in_features % kChannelBlock != 0 || s.out_features == 0 || s.in_features == 0)
        t.fail_tensor(qweight, "has shape " + qweight.shape_string() + "; Nunchaku pads N and K to multiples of 128");
    const int64_t n = s.out_features, k = s.in_features;

    const TensorEntry& wscales = t.required("wscales");
    t.expect_dtype(wscales, {SVDQ_DTYPE_BF16, SVDQ_DTYPE_F16, SVDQ_DTYPE_F8_E4M3});
    s.format = wscales.dtype == SVDQ_DTYPE_F8_E4M3 ? SVDQ_FORMAT_NVFP4 : SVDQ_FORMAT_INT4;
    t.expect_shape(wscales, {k / group_size(s.format), n});

    const TensorEntry& smooth = t.required(names.smooth);
    t.expect_dtype(smooth, {SVDQ_DTYPE_BF16, SVDQ_DTYPE_F16, SVDQ_DTYPE_F32});
    t.expect_shape(smooth, {k});
    s.float_dtype = smooth.dtype;
    if (const TensorEntry* orig = t.optional(names.smooth_orig)) {
        t.expect_dtype(*orig, {SVDQ_DTYPE_BF16, SVDQ_DTYPE_F16, SVDQ_DTYPE_F32});
        t.expect_shape(*orig, {k});
    }
    if (const TensorEntry* bias = t.optional("bias")) {
        t.expect_dtype(*bias, {SVDQ_DTYPE_BF16, SVDQ_DTYPE_F16, SVDQ_DTYPE_F32});
        t.expect_shape(*bias, {n});
    }

    // The branch comes as a pair: one factor without the other is a broken file.
    const TensorEntry* down = t.optional(names.lora_down);
    const TensorEntry* up = t.optional(names.lora_up);
    if (down != nullptr || up != nullptr) {
        const TensorEntry& d = down ? *down : t.required(names.lora_down);
        const TensorEntry& u = up ? *up : t.required(names.lora_up);
        t.expect_dtype(d, {SVDQ_DTYPE_BF16, SVDQ_DTYPE_F16, SVDQ_DTYPE_F32});
        t.expect_dtype(u, {SVDQ_DTYPE_BF16, SVDQ_DTYPE_F16, SVDQ_DTYPE_F32});
        if (d.shape.size() != 2 || d.shape[1] % kLowRankTile != 0)
            t.fail_tensor(d, "has shape " + d.shape_string() + "; the low-rank down factor is [K, rank], rank a multiple of 16");
        s.rank = d.shape[1];
        t.expect_shape(d, {k, s.rank});
        t.expect_shape(u, {n, s.rank});
    }

    const TensorEntry* wcscales = t.optional("wcscales");
    const TensorEntry* wtscale = t.optional("wtscale");
    if (s.format == SVDQ_FORMAT_INT4) {
        if (wcscales != nullptr) t.fail_tensor(*wcscales, "belongs to NVFP4 layers, but this layer's wscales are INT4 scales");
        if (wtscale != nullptr) t.fail_tensor(*wtscale, "belongs to NVFP4 layers, but this layer's wscales are INT4 scales");
    } else {
        if (wcscales != nullptr) {
            t.expect_dtype(*wcscales, {SVDQ_DTYPE_BF16, SVDQ_DTYPE_F16, SVDQ_DTYPE_F32});
            t.expect_shape(*wcscales, {n});
        }
        if (wtscale != nullptr) {
            t.expect_dtype(*wtscale, {SVDQ_DTYPE_BF16, SVDQ_DTYPE_F16, SVDQ_DTYPE_F32});
            if (wtscale->numel != 1) t.fail_tensor(*wtscale, "has shape " + wtscale->shape_string() + "; wtscale is one value");
        }
    }
    return s;
}

NunchakuLinear read_nunchaku_linear(const SafeTensorsFile& file, const std::string& prefix) {
    const NunchakuLinearShape s = describe_nunchaku_linear(file, prefix);
    const LayerTensors t(file, prefix, kKind);
    const auto names = nunchaku::w4a4_tensor_names(s.keys);
    const int64_t n = s.out_features, k = s.in_features, r = s.rank;

    NunchakuLinear layer;
    layer.format = s.format;
    layer.out_features = n;
    layer.in_features = k;
    layer.rank = r;
    layer.float_dtype = s.float_dtype;

    std::vector<uint8_t> weights = nunchaku::unpack_weight(file.data(t.required("qweight")), n, k);
    const TensorEntry& wscales = t.required("wscales");
    const int64_t groups = k / group_size(s.format);
    if (s.format == SVDQ_FORMAT_INT4) {
        const std::vector<float> stored = file.read_f32(wscales);
        layer.int4 = {n, k, std::move(weights), nunchaku::gather(stored.data(), n, groups, [groups](int64_t row, int64_t g) {
                          return nunchaku::group_scale_position(row, g, groups);
                      })};
    } else {
        file.read_f32(wscales);  // only to refuse FP8 NaN scales, naming file and tensor; the bytes are kept as stored
        layer.nvfp4 = {n, k, std::move(weights), nunchaku::gather(file.data(wscales), n, groups, [groups](int64_t row, int64_t g) {
                           return nunchaku::micro_scale_position(row, g, groups);
                       })};
        layer.channel_scales = read_optional_channels(t, "wcscales", n);
        if (const TensorEntry* wtscale = t.optional("wtscale")) layer.tensor_scale = file.read_f32(*wtscale)[0];
    }

    layer.bias = read_optional_channels(t, "bias", n);
    layer.smooth = read_channels(t, t.required(names.smooth), k);
    layer.smooth_orig = read_optional_channels(t, names.smooth_orig, k);
    if (r > 0) {
        const std::vector<float> down = file.read_f32(t.required(names.lora_down));
        const std::vector<float> up = file.read_f32(t.required(names.lora_up));
        layer.lora_down = nunchaku::gather(down.data(), r, k, [r](int64_t i, int64_t c) { return nunchaku::lowrank_down_position(i, c, r); });
        layer.lora_up = nunchaku::gather(up.data(), n, r, [r](int64_t row, int64_t i) { return nunchaku::lowrank_up_position(row, i, r); });
    }
    return layer;
}

NunchakuLinear crop_nunchaku_linear(const NunchakuLinear& layer, int64_t out_features, int64_t in_features, int64_t rank) {
    const int64_t n = out_features, k = in_features, r = rank < 0 ? layer.rank : rank;
    const int64_t group = group_size(layer.format);
    require(n > 0 && n <= layer.out_features && k > 0 && k <= layer.in_features && k % group == 0 && r <= layer.rank,
            SVDQ_ERROR_SHAPE_MISMATCH,
            "cannot crop a [" + std::to_string(layer.out_features) + ", " + std::to_string(layer.in_features) + "] rank-" +
                std::to_string(layer.rank) + " layer to [" + std::to_string(n) + ", " + std::to_string(k) + "] rank " +
                std::to_string(r) + " (K must stay a multiple of " + std::to_string(group) + ")");
    const auto first = [](const std::vector<float>& v, int64_t count) {
        return v.empty() ? v : std::vector<float>(v.begin(), v.begin() + count);
    };
    NunchakuLinear c = layer;
    c.out_features = n;
    c.in_features = k;
    c.rank = r;
    if (layer.format == SVDQ_FORMAT_INT4) {
        c.int4 = {n, k, crop_matrix(layer.int4.packed, layer.in_features / 2, n, k / 2),
                  crop_matrix(layer.int4.scales, layer.int4.groups(), n, k / group)};
    } else {
        c.nvfp4 = {n, k, crop_matrix(layer.nvfp4.packed, layer.in_features / 2, n, k / 2),
                   crop_matrix(layer.nvfp4.scales, layer.nvfp4.groups(), n, k / group)};
        c.channel_scales = first(layer.channel_scales, n);
    }
    c.bias = first(layer.bias, n);
    c.smooth = first(layer.smooth, k);
    c.smooth_orig = first(layer.smooth_orig, k);
    c.lora_down = crop_matrix(layer.lora_down, layer.in_features, r, k);
    c.lora_up = crop_matrix(layer.lora_up, layer.rank, n, r);
    return c;
}

namespace {

void check_layer(const NunchakuLinear& l, const std::string& prefix) {
    const int64_t n = l.out_features, k = l.in_features, r = l.rank;
    const bool int4 = l.format == SVDQ_FORMAT_INT4;
    require_scheme_format(SVDQ_SCHEME_W4A4, l.format, prefix);
    require(l.float_dtype == SVDQ_DTYPE_BF16 || l.float_dtype == SVDQ_DTYPE_F16, SVDQ_ERROR_DTYPE,
            prefix + ": Nunchaku stores float tensors as BF16 or F16, not " + dtype_name(l.float_dtype));
    const int64_t group = group_size(l.format);
    require(n > 0 && k > 0 && k % group == 0 && r >= 0, SVDQ_ERROR_SHAPE_MISMATCH,
            prefix + ": [" + std::to_string(n) + ", " + std::to_string(k) + "] rank " + std::to_string(r) +
                " is not a valid layer shape (K a multiple of " + std::to_string(group) + ")");
    const auto expect = [&](size_t got, int64_t want, const char* what) {
        require(got == static_cast<size_t>(want), SVDQ_ERROR_SHAPE_MISMATCH,
                prefix + ": " + what + " holds " + std::to_string(got) + " values but the layer needs " + std::to_string(want));
    };
    if (int4) {
        require(l.int4.rows == n && l.int4.cols == k, SVDQ_ERROR_SHAPE_MISMATCH, prefix + ": int4 is not [N, K]");
        expect(l.int4.packed.size(), n * k / 2, "int4.packed");
        expect(l.int4.scales.size(), n * k / group, "int4.scales");
    } else {
        require(l.nvfp4.rows == n && l.nvfp4.cols == k, SVDQ_ERROR_SHAPE_MISMATCH, prefix + ": nvfp4 is not [N, K]");
        expect(l.nvfp4.packed.size(), n * k / 2, "nvfp4.packed");
        expect(l.nvfp4.scales.size(), n * k / group, "nvfp4.scales");
        if (!l.channel_scales.empty()) expect(l.channel_scales.size(), n, "channel_scales");
    }
    if (!l.bias.empty()) expect(l.bias.size(), n, "bias");
    expect(l.smooth.size(), k, "smooth");
    if (!l.smooth_orig.empty()) expect(l.smooth_orig.size(), k, "smooth_orig");
    expect(l.lora_down.size(), r * k, "lora_down");
    expect(l.lora_up.size(), n * r, "lora_up");
}

}  // namespace

void add_nunchaku_linear(SafeTensorsWriter& writer, const std::string& prefix, const NunchakuLinear& layer, Keys keys) {
    check_layer(layer, prefix);
    const auto names = nunchaku::w4a4_tensor_names(keys);
    const int64_t n = layer.out_features, k = layer.in_features, r = layer.rank;
    const int64_t np = round_up(n, kChannelBlock), kp = round_up(k, kChannelBlock), rp = round_up(r, kLowRankTile);
    const int32_t fdt = layer.float_dtype;
    const auto name = [&](const char* suffix) { return prefix + "." + suffix; };
    const auto add_floats = [&](const char* suffix, const std::vector<float>& packed, std::vector<int64_t> shape) {
        writer.add(name(suffix), fdt, std::move(shape), encode_from_f32(packed, fdt));
    };
    const auto add_channels = [&](const char* suffix, const std::vector<float>& values, int64_t count, int64_t padded) {
        const std::vector<float> full = pad_matrix(values.data(), 1, count, 1, padded, 1.0f);
        add_floats(suffix, nunchaku::scatter(full.data(), 1, padded, [](int64_t, int64_t c) { return nunchaku::channel_position(c); }),
                   {padded});
    };

    const bool int4 = layer.format == SVDQ_FORMAT_INT4;
    const std::vector<uint8_t>& weights = int4 ? layer.int4.packed : layer.nvfp4.packed;
    const std::vector<uint8_t> padded_weights = pad_matrix(weights.data(), n, k / 2, np, kp / 2, uint8_t{0});
    writer.add(name("qweight"), SVDQ_DTYPE_I8, {np, kp / 2}, nunchaku::pack_weight(padded_weights.data(), np, kp));

    const int64_t groups = k / group_size(layer.format), padded_groups = kp / group_size(layer.format);
    if (int4) {
        const std::vector<float> scales = pad_matrix(layer.int4.scales.data(), n, groups, np, padded_groups, 1.0f);
        add_floats("wscales", nunchaku::scatter(scales.data(), np, padded_groups, [padded_groups](int64_t row, int64_t g) {
                       return nunchaku::group_scale_position(row, g, padded_groups);
                   }),
                   {padded_groups, np});
    } else {
        const std::vector<uint8_t> scales = pad_matrix(layer.nvfp4.scales.data(), n, groups, np, padded_groups, kE4M3One);
        writer.add(name("wscales"), SVDQ_DTYPE_F8_E4M3, {padded_groups, np},
                   nunchaku::scatter(scales.data(), np, padded_groups, [padded_groups](int64_t row, int64_t g) {
                       return nunchaku::micro_scale_position(row, g, padded_groups);
                   }));
        if (!layer.channel_scales.empty()) add_channels("wcscales", layer.channel_scales, n, np);
        // F32 keeps any tensor scale exact; Nunchaku's loaders accept F32 here.
        writer.add(name("wtscale"), SVDQ_DTYPE_F32, {1}, encode_from_f32({layer.tensor_scale}, SVDQ_DTYPE_F32));
    }

    if (!layer.bias.empty()) add_channels("bias", layer.bias, n, np);
    add_channels(names.smooth, layer.smooth, k, kp);
    // Nunchaku's diffusers-style loader expects smooth_orig on every layer.
    add_channels(names.smooth_orig, layer.smooth_orig.empty() ? layer.smooth : layer.smooth_orig, k, kp);
    if (r > 0) {
        const std::vector<float> down = pad_matrix(layer.lora_down.data(), r, k, rp, kp, 0.0f);
        const std::vector<float> up = pad_matrix(layer.lora_up.data(), n, r, np, rp, 0.0f);
        add_floats(names.lora_down,
                   nunchaku::scatter(down.data(), rp, kp, [rp](int64_t i, int64_t c) { return nunchaku::lowrank_down_position(i, c, rp); }),
                   {kp, rp});
        add_floats(names.lora_up,
                   nunchaku::scatter(up.data(), np, rp, [rp](int64_t row, int64_t i) { return nunchaku::lowrank_up_position(row, i, rp); }),
                   {np, rp});
    }
}

}  // namespace svdq
