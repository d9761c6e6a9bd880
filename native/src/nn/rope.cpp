#include "nn/rope.h"

#include <cmath>

namespace svdq {

RopeTables rope_tables(const float* ids, int64_t tokens, const std::vector<int64_t>& axes, double theta) {
    RopeTables t;
    t.tokens = tokens;
    for (int64_t a : axes) t.dim += a;
    t.cos.resize(static_cast<size_t>(tokens * t.dim));
    t.sin.resize(t.cos.size());
    const int64_t naxes = static_cast<int64_t>(axes.size());
    for (int64_t s = 0; s < tokens; ++s) {
        int64_t offset = 0;
        for (int64_t a = 0; a < naxes; ++a) {
            const double pos = ids[s * naxes + a];
            for (int64_t j = 0; j < axes[static_cast<size_t>(a)] / 2; ++j) {
                const double freq = 1.0 / std::pow(theta, 2.0 * static_cast<double>(j) / static_cast<double>(axes[static_cast<size_t>(a)]));
                const size_t i = static_cast<size_t>(s * t.dim + offset + 2 * j);
                t.cos[i] = t.cos[i + 1] = static_cast<float>(std::cos(pos * freq));
                t.sin[i] = t.sin[i + 1] = static_cast<float>(std::sin(pos * freq));
            }
            offset += axes[static_cast<size_t>(a)];
        }
    }
    return t;
}

void apply_rope(float* x, int64_t heads, const RopeTables& t) {
    for (int64_t s = 0; s < t.tokens; ++s) {
        const float* c = t.cos.data() + s * t.dim;
        const float* sn = t.sin.data() + s * t.dim;
        for (int64_t h = 0; h < heads; ++h) {
            float* v = x + (s * heads + h) * t.dim;
            for (int64_t j = 0; j < t.dim; j += 2) {
                const float a = v[j], b = v[j + 1];
                v[j] = a * c[j] - b * sn[j];
                v[j + 1] = b * c[j + 1] + a * sn[j + 1];
            }
        }
    }
}

}  // namespace svdq
