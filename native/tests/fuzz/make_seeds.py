#!/usr/bin/env python3
"""Writes the generated seeds of the fuzz corpora (corpus/<target>/).

Run from anywhere: python3 native/tests/fuzz/make_seeds.py. Hand-written seeds
in the same folders are kept; these are overwritten. Among them is one seed
per crash the hardening review found: JSON nested 10^5 deep (arrays and
objects) in a safetensors header, in config.json and in the layer and
Nunchaku metadata; tensor names that differ only after a NUL; a header that
is one long run of '['.
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
DEEP = 100_000          # nesting of the crashing inputs
LONG_RUN = 200_000      # bytes of '[' standing for the 100 MB header (the fuzzers' max_len is 1 MiB)


def deep_arrays(n=DEEP):
    return "[" * n + "]" * n


def deep_objects(n=DEEP):  # left open: the parser crashed on the way down
    return '{"":' * n


def image(header, data=b""):
    """A safetensors file: 8-byte little-endian length, header text, data."""
    text = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw + data


def tensors(entries, metadata=None):
    """Header and zero data for [(name, dtype, shape)], in order."""
    sizes = {"I8": 1, "U8": 1, "I32": 4, "F32": 4, "BF16": 2, "F16": 2, "F8_E4M3": 1}
    header, offset = {}, 0
    for name, dtype, shape in entries:
        n = sizes[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    if metadata is not None:
        header["__metadata__"] = metadata
    return header, bytes(offset)


def w4a4_layer(prefix, n=128, k=128, rank=16, nvfp4=False, v0=False):
    smooth, orig, down, up = ("smooth", "smooth_orig", "lora_down", "lora_up") if v0 else \
        ("smooth_factor", "smooth_factor_orig", "proj_down", "proj_up")
    layer = [(f"{prefix}.qweight", "I8", [n, k // 2]),
             (f"{prefix}.wscales", "F8_E4M3" if nvfp4 else "BF16", [k // (16 if nvfp4 else 64), n]),
             (f"{prefix}.{smooth}", "BF16", [k]), (f"{prefix}.{orig}", "BF16", [k]), (f"{prefix}.bias", "BF16", [n])]
    if rank:
        layer += [(f"{prefix}.{down}", "BF16", [k, rank]), (f"{prefix}.{up}", "BF16", [n, rank])]
    if nvfp4:
        layer += [(f"{prefix}.wcscales", "BF16", [n]), (f"{prefix}.wtscale", "BF16", [1])]
    return layer


def awq_layer(prefix, n=4, k=64):
    return [(f"{prefix}.qweight", "I32", [n // 4, k // 2]), (f"{prefix}.wscales", "BF16", [k // 64, n]),
            (f"{prefix}.wzeros", "BF16", [k // 64, n]), (f"{prefix}.bias", "BF16", [n])]


def quantization_config(dtype="int4", group=64, rank=16):
    return json.dumps({"method": "svdquant", "weight": {"dtype": dtype, "scale_dtype": None, "group_size": group},
                       "activation": {"dtype": dtype, "scale_dtype": None, "group_size": group}, "rank": rank})


def checkpoint(entries, metadata):
    header, data = tensors(entries, metadata)
    return image(header, data)


def write(target, name, content):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(content.encode() if isinstance(content, str) else content)


def header_seeds():
    t = "fuzz_safetensors_header"
    write(t, "deep_arrays.safetensors", image('{"a":' + deep_arrays() + "}"))
    write(t, "deep_objects.safetensors", image(deep_objects()))
    write(t, "deep_metadata.safetensors", image('{"__metadata__":' + deep_arrays() + "}"))
    write(t, "long_bracket_run.safetensors", image('{"a":' + "[" * LONG_RUN))
    # Two names equal up to a NUL: a reader that stops at the NUL sees one tensor twice.
    write(t, "nul_names.safetensors", image(
        '{"a\\u0000x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
        '"a\\u0000y":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', b"\0\0"))
    write(t, "nul_metadata.safetensors", image('{"__metadata__":{"k\\u0000":"v\\u0000"}}'))


def flux_config_seeds():
    t = "fuzz_flux_config"
    dev = {"_class_name": "FluxTransformer2DModel", "patch_size": 1, "in_channels": 64, "out_channels": None,
           "num_layers": 19, "num_single_layers": 38, "attention_head_dim": 128, "num_attention_heads": 24,
           "joint_attention_dim": 4096, "pooled_projection_dim": 768, "guidance_embeds": True,
           "axes_dims_rope": [16, 56, 56]}
    write(t, "flux_dev.json", json.dumps(dev, indent=2))
    write(t, "flux_tiny.json", json.dumps(dict(dev, in_channels=16, num_layers=2, num_single_layers=2,
                                               attention_head_dim=16, num_attention_heads=4, joint_attention_dim=32,
                                               pooled_projection_dim=24, axes_dims_rope=[4, 6, 6])))
    write(t, "empty_object.json", "{}")
    write(t, "odd_axes.json", json.dumps(dict(dev, axes_dims_rope=[15, 57, 56])))
    write(t, "huge_sizes.json", json.dumps(dict(dev, attention_head_dim=2**62, num_attention_heads=4,
                                                axes_dims_rope=[2**61, 2**61])))
    # Summing these axes overflowed int64 before sizes were bounded.
    write(t, "axes_overflow.json", json.dumps({"attention_head_dim": 128, "axes_dims_rope": [2**62, 2**62]}))
    write(t, "duplicate_key.json", '{"num_layers": 19, "num_layers": 2}')
    write(t, "deep_arrays.json", '{"axes_dims_rope":' + deep_arrays() + "}")
    write(t, "deep_objects.json", deep_objects())
    write(t, "long_bracket_run.json", "[" * LONG_RUN)


def layer_metadata_seeds():
    t = "fuzz_layer_metadata"
    info = {"out_features": 3072, "in_features": 3072, "rank": 32, "method": "svdquant", "format": "int4", "activation": 0}
    write(t, "svdquant_int4.json", json.dumps(info))
    write(t, "rtn_nvfp4_gelu.json", json.dumps(dict(info, rank=0, method="rtn", format="nvfp4", activation=1)))
    write(t, "w4a16.json", json.dumps(dict(info, rank=0, method="w4a16")))
    write(t, "old_no_format.json", json.dumps({k: v for k, v in info.items() if k != "format"}))
    write(t, "bad_activation.json", json.dumps(dict(info, activation=7)))
    write(t, "nul_in_value.json", json.dumps(info)[:-1] + ',"method":"svd\0quant"}')
    write(t, "deep_arrays.json", '{"out_features":' + deep_arrays() + "}")
    write(t, "deep_objects.json", deep_objects())
    write(t, "long_bracket_run.json", "[" * LONG_RUN)


def nunchaku_seeds():
    t = "fuzz_nunchaku_metadata"
    config = json.dumps({"_class_name": "FluxTransformer2DModel", "num_layers": 19, "attention_head_dim": 128})
    meta = {"quantization_config": quantization_config(), "config": config, "model_class": "NunchakuFluxTransformer2dModel"}
    blocks = "transformer_blocks.0"
    write(t, "int4_diffusers.safetensors", checkpoint(w4a4_layer(f"{blocks}.attn.to_qkv"), meta))
    write(t, "nvfp4_v0.safetensors", checkpoint(w4a4_layer(f"{blocks}.qkv_proj", nvfp4=True, v0=True),
                                                 dict(meta, quantization_config=quantization_config("fp4_e2m1_all", 16))))
    write(t, "int4_ours.safetensors", checkpoint(w4a4_layer("layer", rank=0),
                                                  dict(meta, svdquant_interop='{"format_version":1}')))
    write(t, "awq_w4a16.safetensors", checkpoint(awq_layer(f"{blocks}.norm1.linear"), {"config": config}))
    write(t, "mixed_precision.safetensors", checkpoint(w4a4_layer("a") + w4a4_layer("b", nvfp4=True), meta))
    write(t, "diffusers_float.safetensors", checkpoint([(f"{blocks}.attn.to_q.weight", "BF16", [4, 4])], None))
    write(t, "deep_quantization_config.safetensors", checkpoint(w4a4_layer("l"), dict(meta, quantization_config=deep_arrays())))
    write(t, "deep_config.safetensors", checkpoint(w4a4_layer("l"), dict(meta, config=deep_objects())))
    write(t, "long_bracket_run.safetensors", image('{"a":' + "[" * LONG_RUN))
    write(t, "nul_names.safetensors", image(
        '{"l.qweight\\u0000a":{"dtype":"I8","shape":[128,64],"data_offsets":[0,8192]},'
        '"l.qweight\\u0000b":{"dtype":"I8","shape":[128,64],"data_offsets":[8192,16384]}}', bytes(16384)))


if __name__ == "__main__":
    header_seeds()
    flux_config_seeds()
    layer_metadata_seeds()
    nunchaku_seeds()
