// Test-only AutoencoderKL: tiny configs written in diffusers' key layout
// (config.json + diffusion_pytorch_model.safetensors) and the model's math in
// float64 on NCHW images, written from diffusers' definitions (vae.py's
// Encoder/Decoder, ResnetBlock2D, Attention with group_norm, Downsample2D's
// pad (0, 1, 0, 1) + stride 2, Upsample2D's nearest 2x + conv, enable_tiling's
// tiled_decode / tiled_encode with blend_v / blend_h), independent of the engine.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "formats/safetensors_writer.h"

namespace svdq::test::vae {

struct Config {
    int64_t in_channels = 3, out_channels = 3, latent_channels = 4;
    std::vector<int64_t> blocks{8, 16};
    int64_t layers_per_block = 1, groups = 4, sample_size = 32;
    bool quant_conv = true, post_quant_conv = true, attention = true;
    double scaling_factor = 0.3611, shift_factor = 0.1159;

    int64_t downscale() const { return int64_t{1} << (blocks.size() - 1); }
    std::string json() const {
        std::string list, down, up;
        for (size_t i = 0; i < blocks.size(); ++i) {
            list += (i ? ", " : "") + std::to_string(blocks[i]);
            down += std::string(i ? ", " : "") + "\"DownEncoderBlock2D\"";
            up += std::string(i ? ", " : "") + "\"UpDecoderBlock2D\"";
        }
        const auto flag = [](bool b) { return b ? "true" : "false"; };
        return std::string("{\n  \"_class_name\": \"AutoencoderKL\",\n  \"act_fn\": \"silu\",\n") +
               "  \"in_channels\": " + std::to_string(in_channels) + ",\n  \"out_channels\": " + std::to_string(out_channels) +
               ",\n  \"latent_channels\": " + std::to_string(latent_channels) + ",\n  \"block_out_channels\": [" + list +
               "],\n  \"down_block_types\": [" + down + "],\n  \"up_block_types\": [" + up +
               "],\n  \"layers_per_block\": " + std::to_string(layers_per_block) + ",\n  \"norm_num_groups\": " +
               std::to_string(groups) + ",\n  \"sample_size\": " + std::to_string(sample_size) + ",\n  \"use_quant_conv\": " +
               flag(quant_conv) + ",\n  \"use_post_quant_conv\": " + flag(post_quant_conv) +
               ",\n  \"mid_block_add_attention\": " + flag(attention) + ",\n  \"scaling_factor\": " +
               std::to_string(scaling_factor) + ",\n  \"shift_factor\": " + std::to_string(shift_factor) + "\n}\n";
    }
};

struct Tensor {
    std::vector<int64_t> shape;
    std::vector<float> values;
};
using Weights = std::map<std::string, Tensor>;

// Every tensor of diffusers' AutoencoderKL for `c` with seeded values:
// convolutions and linears N(0, 1 / fan_in), biases N(0, 0.3^2) (a bias
// that matters), norm weights 1 + N(0, 0.2^2), norm biases N(0, 0.2^2).
inline Weights random_weights(const Config& c, uint64_t seed) {
    Weights w;
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const auto fill = [&](const std::string& name, std::vector<int64_t> shape, float mean, float std) {
        int64_t count = 1;
        for (int64_t d : shape) count *= d;
        Tensor t{std::move(shape), std::vector<float>(static_cast<size_t>(count))};
        for (float& v : t.values) v = mean + std * normal(rng);
        w[name] = std::move(t);
    };
    const auto conv = [&](const std::string& name, int64_t in, int64_t out, int64_t k) {
        fill(name + ".weight", {out, in, k, k}, 0.0f, 1.0f / std::sqrt(static_cast<float>(in * k * k)));
        fill(name + ".bias", {out}, 0.0f, 0.3f);
    };
    const auto linear = [&](const std::string& name, int64_t ch) {
        fill(name + ".weight", {ch, ch}, 0.0f, 1.0f / std::sqrt(static_cast<float>(ch)));
        fill(name + ".bias", {ch}, 0.0f, 0.3f);
    };
    const auto norm = [&](const std::string& name, int64_t ch) {
        fill(name + ".weight", {ch}, 1.0f, 0.2f);
        fill(name + ".bias", {ch}, 0.0f, 0.2f);
    };
    const auto resnet = [&](const std::string& p, int64_t in, int64_t out) {
        norm(p + ".norm1", in);
        conv(p + ".conv1", in, out, 3);
        norm(p + ".norm2", out);
        conv(p + ".conv2", out, out, 3);
        if (in != out) conv(p + ".conv_shortcut", in, out, 1);
    };
    const auto mid = [&](const std::string& p, int64_t ch) {
        resnet(p + ".resnets.0", ch, ch);
        resnet(p + ".resnets.1", ch, ch);
        if (!c.attention) return;
        norm(p + ".attentions.0.group_norm", ch);
        for (const char* l : {".to_q", ".to_k", ".to_v", ".to_out.0"}) linear(p + ".attentions.0" + l, ch);
    };
    const int64_t top = c.blocks.back(), latent = c.latent_channels;
    conv("encoder.conv_in", c.in_channels, c.blocks.front(), 3);
    int64_t ch = c.blocks.front();
    for (size_t i = 0; i < c.blocks.size(); ++i) {
        const std::string p = "encoder.down_blocks." + std::to_string(i);
        for (int64_t r = 0; r < c.layers_per_block; ++r) resnet(p + ".resnets." + std::to_string(r), r == 0 ? ch : c.blocks[i], c.blocks[i]);
        if (i + 1 < c.blocks.size()) conv(p + ".downsamplers.0.conv", c.blocks[i], c.blocks[i], 3);
        ch = c.blocks[i];
    }
    mid("encoder.mid_block", top);
    norm("encoder.conv_norm_out", top);
    conv("encoder.conv_out", top, 2 * latent, 3);
    if (c.quant_conv) conv("quant_conv", 2 * latent, 2 * latent, 1);
    if (c.post_quant_conv) conv("post_quant_conv", latent, latent, 1);
    conv("decoder.conv_in", latent, top, 3);
    mid("decoder.mid_block", top);
    ch = top;
    for (size_t i = 0; i < c.blocks.size(); ++i) {
        const int64_t out = c.blocks[c.blocks.size() - 1 - i];
        const std::string p = "decoder.up_blocks." + std::to_string(i);
        for (int64_t r = 0; r < c.layers_per_block + 1; ++r) resnet(p + ".resnets." + std::to_string(r), r == 0 ? ch : out, out);
        if (i + 1 < c.blocks.size()) conv(p + ".upsamplers.0.conv", out, out, 3);
        ch = out;
    }
    norm("decoder.conv_norm_out", c.blocks.front());
    conv("decoder.conv_out", c.blocks.front(), c.out_channels, 3);
    return w;
}

// `dir`/config.json and `dir`/diffusion_pytorch_model.safetensors, F32 or
// BF16 (values already BF16 values, so the file holds them exactly).
inline void write_folder(const std::string& dir, const std::string& config_json, const Weights& w, bool bf16 = false) {
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/config.json") << config_json;
    SafeTensorsWriter writer;
    for (const auto& [name, t] : w)
        if (bf16) {
            const std::vector<uint16_t> bits = to_bf16(t.values.data(), t.values.size());
            writer.add_copy(name, SVDQ_DTYPE_BF16, t.shape, bits.data(), bits.size() * sizeof(uint16_t));
        } else {
            writer.add_copy(name, SVDQ_DTYPE_F32, t.shape, t.values.data(), t.values.size() * sizeof(float));
        }
    writer.save(dir + "/diffusion_pytorch_model.safetensors");
}

// An NCHW image of one batch item in float64.
struct Image {
    int64_t c = 0, h = 0, w = 0;
    std::vector<double> v;
    Image() = default;
    Image(int64_t c_, int64_t h_, int64_t w_) : c(c_), h(h_), w(w_), v(static_cast<size_t>(c_ * h_ * w_)) {}
    double& at(int64_t ch, int64_t y, int64_t x) { return v[static_cast<size_t>((ch * h + y) * w + x)]; }
    double at(int64_t ch, int64_t y, int64_t x) const { return v[static_cast<size_t>((ch * h + y) * w + x)]; }
    Image crop(int64_t y0, int64_t x0, int64_t hh, int64_t ww) const {
        Image o(c, hh, ww);
        for (int64_t ch = 0; ch < c; ++ch)
            for (int64_t y = 0; y < hh; ++y)
                for (int64_t x = 0; x < ww; ++x) o.at(ch, y, x) = at(ch, y0 + y, x0 + x);
        return o;
    }
};

class Reference {
public:
    Reference(const Config& c, const Weights& w) : c_(c), w_(w) {}

    // vae.decode(z) (post_quant_conv, then the Decoder).
    Image decode(const Image& z) const {
        Image x = c_.post_quant_conv ? conv(z, "post_quant_conv", 1, 0, 0, 0, 0) : z;
        x = conv(x, "decoder.conv_in", 1, 1, 1, 1, 1);
        x = mid(x, "decoder.mid_block");
        for (size_t i = 0; i < c_.blocks.size(); ++i) {
            const std::string p = "decoder.up_blocks." + std::to_string(i);
            for (int64_t r = 0; r < c_.layers_per_block + 1; ++r) x = resnet(x, p + ".resnets." + std::to_string(r));
            if (i + 1 < c_.blocks.size()) x = conv(upsample(x), p + ".upsamplers.0.conv", 1, 1, 1, 1, 1);
        }
        return conv(group_norm(x, "decoder.conv_norm_out", true), "decoder.conv_out", 1, 1, 1, 1, 1);
    }

    // The moments of vae.encode(x): Encoder, then quant_conv; [mean; logvar] unclamped.
    Image encode_moments(const Image& image) const {
        Image x = conv(image, "encoder.conv_in", 1, 1, 1, 1, 1);
        for (size_t i = 0; i < c_.blocks.size(); ++i) {
            const std::string p = "encoder.down_blocks." + std::to_string(i);
            for (int64_t r = 0; r < c_.layers_per_block; ++r) x = resnet(x, p + ".resnets." + std::to_string(r));
            if (i + 1 < c_.blocks.size()) x = conv(x, p + ".downsamplers.0.conv", 2, 0, 1, 0, 1);  // F.pad (0, 1, 0, 1): right and bottom
        }
        x = mid(x, "encoder.mid_block");
        x = conv(group_norm(x, "encoder.conv_norm_out", true), "encoder.conv_out", 1, 1, 1, 1, 1);
        return c_.quant_conv ? conv(x, "quant_conv", 1, 0, 0, 0, 0) : x;
    }

    // diffusers' tiled_decode / tiled_encode with tile_sample_min_size `tile`.
    Image tiled_decode(const Image& z, int64_t tile) const {
        const int64_t latent_tile = tile / c_.downscale();
        return tiled(z, latent_tile, static_cast<int64_t>(latent_tile * 0.75), static_cast<int64_t>(tile * 0.25), tile,
                     [&](const Image& t) { return decode(t); });
    }
    Image tiled_encode_moments(const Image& x, int64_t tile) const {
        const int64_t latent_tile = tile / c_.downscale();
        return tiled(x, tile, static_cast<int64_t>(tile * 0.75), static_cast<int64_t>(latent_tile * 0.25),
                     latent_tile, [&](const Image& t) { return encode_moments(t); });
    }

private:
    const Tensor& p(const std::string& name) const { return w_.at(name); }

    // nn.Conv2d after zero padding (top, bottom, left, right).
    Image conv(const Image& x, const std::string& name, int64_t stride, int64_t top, int64_t bottom, int64_t left, int64_t right) const {
        const Tensor& wt = p(name + ".weight");
        const Tensor& b = p(name + ".bias");
        const int64_t out = wt.shape[0], k = wt.shape[2];
        Image o(out, (x.h + top + bottom - k) / stride + 1, (x.w + left + right - k) / stride + 1);
        for (int64_t oc = 0; oc < out; ++oc)
            for (int64_t y = 0; y < o.h; ++y)
                for (int64_t xx = 0; xx < o.w; ++xx) {
                    double acc = b.values[static_cast<size_t>(oc)];
                    for (int64_t ic = 0; ic < x.c; ++ic)
                        for (int64_t ky = 0; ky < k; ++ky)
                            for (int64_t kx = 0; kx < k; ++kx) {
                                const int64_t iy = y * stride + ky - top, ix = xx * stride + kx - left;
                                if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
                                acc += wt.values[static_cast<size_t>(((oc * x.c + ic) * k + ky) * k + kx)] * x.at(ic, iy, ix);
                            }
                    o.at(oc, y, xx) = acc;
                }
        return o;
    }

    Image group_norm(const Image& x, const std::string& name, bool silu) const {
        const Tensor& wt = p(name + ".weight");
        const Tensor& b = p(name + ".bias");
        const int64_t per = x.c / c_.groups, n = per * x.h * x.w;
        Image o(x.c, x.h, x.w);
        for (int64_t g = 0; g < c_.groups; ++g) {
            const auto first = x.v.begin() + g * n;
            double mean = 0.0, var = 0.0;
            for (auto it = first; it != first + n; ++it) mean += *it;
            mean /= static_cast<double>(n);
            for (auto it = first; it != first + n; ++it) var += (*it - mean) * (*it - mean);
            var /= static_cast<double>(n);
            for (int64_t i = 0; i < n; ++i) {
                const int64_t ch = g * per + i / (x.h * x.w);
                double y = (first[i] - mean) / std::sqrt(var + 1e-6) * wt.values[static_cast<size_t>(ch)] + b.values[static_cast<size_t>(ch)];
                if (silu) y = y / (1.0 + std::exp(-y));
                o.v[static_cast<size_t>(g * n + i)] = y;
            }
        }
        return o;
    }

    Image resnet(const Image& x, const std::string& pre) const {
        Image h = conv(group_norm(x, pre + ".norm1", true), pre + ".conv1", 1, 1, 1, 1, 1);
        h = conv(group_norm(h, pre + ".norm2", true), pre + ".conv2", 1, 1, 1, 1, 1);
        const Image shortcut = w_.count(pre + ".conv_shortcut.weight") ? conv(x, pre + ".conv_shortcut", 1, 0, 0, 0, 0) : x;
        for (size_t i = 0; i < h.v.size(); ++i) h.v[i] += shortcut.v[i];
        return h;
    }

    Image attention(const Image& x, const std::string& pre) const {
        const Image n = group_norm(x, pre + ".group_norm", false);
        const int64_t tokens = x.h * x.w, ch = x.c;
        const auto project = [&](const Image& in, const std::string& name) {  // per token: W v + b
            const Tensor& wt = p(name + ".weight");
            const Tensor& b = p(name + ".bias");
            std::vector<double> out(static_cast<size_t>(tokens * ch));
            for (int64_t t = 0; t < tokens; ++t)
                for (int64_t o = 0; o < ch; ++o) {
                    double acc = b.values[static_cast<size_t>(o)];
                    for (int64_t i = 0; i < ch; ++i) acc += wt.values[static_cast<size_t>(o * ch + i)] * in.v[static_cast<size_t>(i * tokens + t)];
                    out[static_cast<size_t>(t * ch + o)] = acc;
                }
            return out;
        };
        const std::vector<double> q = project(n, pre + ".to_q"), k = project(n, pre + ".to_k"), v = project(n, pre + ".to_v");
        Image attended(ch, x.h, x.w);  // channel-major again, for the output projection
        std::vector<double> s(static_cast<size_t>(tokens));
        for (int64_t t = 0; t < tokens; ++t) {
            double top = -1e300, sum = 0.0;
            for (int64_t u = 0; u < tokens; ++u) {
                double d = 0.0;
                for (int64_t i = 0; i < ch; ++i) d += q[static_cast<size_t>(t * ch + i)] * k[static_cast<size_t>(u * ch + i)];
                s[static_cast<size_t>(u)] = d / std::sqrt(static_cast<double>(ch));
                top = std::max(top, s[static_cast<size_t>(u)]);
            }
            for (double& e : s) sum += (e = std::exp(e - top));
            for (int64_t i = 0; i < ch; ++i) {
                double acc = 0.0;
                for (int64_t u = 0; u < tokens; ++u) acc += s[static_cast<size_t>(u)] * v[static_cast<size_t>(u * ch + i)];
                attended.v[static_cast<size_t>(i * tokens + t)] = acc / sum;
            }
        }
        const std::vector<double> out = project(attended, pre + ".to_out.0");
        Image o = x;
        for (int64_t t = 0; t < tokens; ++t)
            for (int64_t i = 0; i < ch; ++i) o.v[static_cast<size_t>(i * tokens + t)] += out[static_cast<size_t>(t * ch + i)];
        return o;
    }

    Image mid(const Image& x, const std::string& pre) const {
        Image h = resnet(x, pre + ".resnets.0");
        if (c_.attention) h = attention(h, pre + ".attentions.0");
        return resnet(h, pre + ".resnets.1");
    }

    static Image upsample(const Image& x) {
        Image o(x.c, 2 * x.h, 2 * x.w);
        for (int64_t ch = 0; ch < x.c; ++ch)
            for (int64_t y = 0; y < o.h; ++y)
                for (int64_t xx = 0; xx < o.w; ++xx) o.at(ch, y, xx) = x.at(ch, y / 2, xx / 2);
        return o;
    }

    // enable_tiling's loop: tiles of `tile` every `overlap`, blend_v with the
    // (already blended) tile above, blend_h with the one to the left, crop to
    // row_limit = out_tile - blend, concatenate.
    static Image tiled(const Image& x, int64_t tile, int64_t overlap, int64_t blend, int64_t out_tile,
                       const std::function<Image(const Image&)>& run) {
        std::vector<std::vector<Image>> rows;
        for (int64_t i = 0; i < x.h; i += overlap) {
            rows.emplace_back();
            for (int64_t j = 0; j < x.w; j += overlap)
                rows.back().push_back(run(x.crop(i, j, std::min(tile, x.h - i), std::min(tile, x.w - j))));
        }
        const int64_t limit = out_tile - blend;
        std::vector<std::vector<Image>> cropped(rows.size());
        for (size_t i = 0; i < rows.size(); ++i)
            for (size_t j = 0; j < rows[i].size(); ++j) {
                Image& b = rows[i][j];
                if (i > 0) {
                    const Image& a = rows[i - 1][j];
                    const int64_t e = std::min({a.h, b.h, blend});
                    for (int64_t ch = 0; ch < b.c; ++ch)
                        for (int64_t y = 0; y < e; ++y)
                            for (int64_t xx = 0; xx < b.w; ++xx)
                                b.at(ch, y, xx) = a.at(ch, a.h - e + y, xx) * (1.0 - double(y) / e) + b.at(ch, y, xx) * (double(y) / e);
                }
                if (j > 0) {
                    const Image& a = rows[i][j - 1];
                    const int64_t e = std::min({a.w, b.w, blend});
                    for (int64_t ch = 0; ch < b.c; ++ch)
                        for (int64_t y = 0; y < b.h; ++y)
                            for (int64_t xx = 0; xx < e; ++xx)
                                b.at(ch, y, xx) = a.at(ch, y, a.w - e + xx) * (1.0 - double(xx) / e) + b.at(ch, y, xx) * (double(xx) / e);
                }
                cropped[i].push_back(b.crop(0, 0, std::min(limit, b.h), std::min(limit, b.w)));
            }
        int64_t h = 0, w = 0;
        for (const auto& r : cropped) h += r[0].h;
        for (const Image& t : cropped[0]) w += t.w;
        Image o(cropped[0][0].c, h, w);
        int64_t y0 = 0;
        for (const auto& r : cropped) {
            int64_t x0 = 0;
            for (const Image& t : r) {
                for (int64_t ch = 0; ch < t.c; ++ch)
                    for (int64_t y = 0; y < t.h; ++y)
                        for (int64_t xx = 0; xx < t.w; ++xx) o.at(ch, y0 + y, x0 + xx) = t.at(ch, y, xx);
                x0 += t.w;
            }
            y0 += r[0].h;
        }
        return o;
    }

    Config c_;
    const Weights& w_;
};

}  // namespace svdq::test::vae
