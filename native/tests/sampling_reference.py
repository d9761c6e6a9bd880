#!/usr/bin/python3
"""Reference values of test_sampling_*.cpp, computed independently of the engine.

Run with a Python that has numpy (Debian's /usr/bin/python3 + python3-numpy);
the printed constants are pasted into the tests.

1. Schedules: diffusers' FluxPipeline + FlowMatchEulerDiscreteScheduler
   arithmetic, step by step with numpy (float64 linspace, float32 arrays
   with Python float scalars), from pipeline_flux.py (calculate_shift, the
   sigmas passed to retrieve_timesteps) and scheduling_flow_match_euler_discrete.py
   (set_timesteps, time_shift).
2. Noise: the generator documented in native/src/sampling/noise.h, written
   from that definition: Philox4x32-10 (checked against Random123's
   published known answers first), Marsaglia's polar method, the log from
   + - * / only.
"""
import math
import struct

import numpy as np


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", float(x)))[0]


# --- 1. schedules -------------------------------------------------------------

def calculate_shift(image_seq_len, base_seq_len=256, max_seq_len=4096, base_shift=0.5, max_shift=1.15):
    m = (max_shift - base_shift) / (max_seq_len - base_seq_len)
    b = base_shift - m * base_seq_len
    return image_seq_len * m + b


def diffusers_sigmas(steps, image_seq_len, dynamic, shift=1.0, time_shift_type="exponential", sigmas=None):
    if sigmas is None:
        sigmas = np.linspace(1.0, 1 / steps, steps)
    mu = calculate_shift(image_seq_len)
    sigmas = np.array(sigmas).astype(np.float32)
    if dynamic:
        if time_shift_type == "exponential":
            sigmas = math.exp(mu) / (math.exp(mu) + (1 / sigmas - 1) ** 1.0)
        else:
            sigmas = mu / (mu + (1 / sigmas - 1) ** 1.0)
    else:
        sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
    assert sigmas.dtype == np.float32, sigmas.dtype
    return list(sigmas) + [np.float32(0.0)]


def print_schedule(name, values):
    words = ", ".join("0x%08x" % f32_bits(v) for v in values)
    print("// %s\n{%s}," % (name, words))


# --- 2. noise -----------------------------------------------------------------

M32 = 0xFFFFFFFF


def philox4x32_10(ctr, key):
    c = list(ctr)
    k = list(key)
    for r in range(10):
        if r > 0:
            k = [(k[0] + 0x9E3779B9) & M32, (k[1] + 0xBB67AE85) & M32]
        p0 = 0xD2511F53 * c[0]
        p1 = 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & M32, (p0 >> 32) ^ c[3] ^ k[1], p0 & M32]
    return c


# Random123 kat_vectors for philox4x32 R=10.
assert philox4x32_10([0, 0, 0, 0], [0, 0]) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
assert philox4x32_10([M32] * 4, [M32] * 2) == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]
assert philox4x32_10([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0]) == [
    0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]


def portable_log(x):
    m, e = math.frexp(x)
    if m < float.fromhex("0x1.6a09e667f3bcdp-1"):
        m *= 2.0
        e -= 1
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    series = 1.0 / 23.0
    for k in range(10, 0, -1):
        series = series * z + 1.0 / (2 * k + 1)
    log_m = 2.0 * s + (2.0 * s) * (z * series)
    ln2_hi = float.fromhex("0x1.62e42feep-1")
    ln2_lo = float.fromhex("0x1.a39ef35793c76p-33")
    return e * ln2_hi + (log_m + e * ln2_lo)


def uniform(w):
    return (2 * w + 1 - 2**32) / 2**32  # exact: a 33-bit integer over a power of two


def gaussian_pair(seed, stream, p):
    key = [seed & M32, seed >> 32]
    attempt = 0
    while True:
        w = philox4x32_10([p & M32, p >> 32, stream, attempt], key)
        for a, b in ((w[0], w[1]), (w[2], w[3])):
            u, v = uniform(a), uniform(b)
            s = u * u + v * v
            if s < 1.0:
                factor = math.sqrt(-2.0 * portable_log(s) / s)
                return u * factor, v * factor
        attempt += 1


def gaussian(seed, stream, j):
    return gaussian_pair(seed, stream, j // 2)[j % 2]


def print_noise(seed, stream, indices):
    words = ", ".join("0x%08x" % f32_bits(gaussian(seed, stream, j)) for j in indices)
    print("// seed %d, stream %d, elements %s\n{%s}," % (seed, stream, list(indices), words))


if __name__ == "__main__":
    print("=== schedules (float32 bits, N + 1 values)")
    print_schedule("dev, 4 steps, 4096 tokens (1024x1024)", diffusers_sigmas(4, 4096, True))
    print_schedule("dev, 28 steps, 1024 tokens (512x512)", diffusers_sigmas(28, 1024, True))
    print_schedule("schnell, 4 steps", diffusers_sigmas(4, 4096, False))
    print_schedule("static shift 3.0, 8 steps", diffusers_sigmas(8, 4096, False, shift=3.0))
    print_schedule("dynamic linear, 6 steps, 4096 tokens", diffusers_sigmas(6, 4096, True, time_shift_type="linear"))
    print_schedule("dev, user sigmas [1, 0.7, 0.4, 0.1], 1024 tokens",
                   diffusers_sigmas(4, 1024, True, sigmas=[1.0, 0.7, 0.4, 0.1]))
    d = diffusers_sigmas(50, 4096, True)
    print("50 steps dev 4096: sigma[1] %.9g sigma[25] %.9g sigma[49] %.9g" % (d[1], d[25], d[49]))
    print("mu(4096) = %.17g, mu(1024) = %.17g, mu(16) = %.17g" % (calculate_shift(4096), calculate_shift(1024),
                                                                   calculate_shift(16)))
    print("=== noise (float32 bits)")
    print_noise(0, 0, range(8))
    print_noise(42, 0, range(8))
    print_noise(42, 7, range(4))
    print_noise(2**40 + 5, 3, range(4))
    print_noise(42, 0, [2**33 + 1, 2**33 + 2])
    print("=== portable_log bits (inputs near the ends of the mantissa range, where the last series terms count)")
    for x in ["0x1.69a6710846bdap-1", "0x1.675eed2d116c4p+0", "0x1.69395974abd65p+0", "0x1.67ce1cc34f9e9p+0",
              "0x1.999999999999ap-4", "0x1.4f8b588e368f1p-17", "0x1.8p+1"]:
        print("{%s, %s}," % (x, portable_log(float.fromhex(x)).hex()))
    print("=== portable_log vs math.log")
    worst = 0
    for x in [1e-18, 2**-63, 1e-5, 0.1, 0.5, 0.70710678, 0.7071068, 0.99, 0.999999, 1.0 - 2**-52, 1.5, 3.0, 1e10]:
        a, b = portable_log(x), math.log(x)
        ulps = abs(a - b) / math.ulp(b) if b != 0 else abs(a)
        worst = max(worst, ulps)
        print("log(%r): %.17g vs %.17g (%.2f ulp)" % (x, a, b, ulps))
    print("worst %.2f ulp" % worst)
