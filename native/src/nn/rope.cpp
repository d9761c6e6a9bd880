#include "nn/rope.h"

#include <cmath>

namespace svdq {

void rope_tables(const float* ids, int64_t tokens, const std::vector<int64_t>& axes, double theta, float* cos, float* sin) {
    int64_t dim = 0;
    for (int64_t a : axes) dim += a;
    const int64_t naxes = static_cast<int64_t>(axes.size());
    for (int64_t s = 0; s < tokens; ++s) {
        int64_t offset = 0;
        for (int64_t a = 0; a < naxes; ++a) {
            const double pos = ids[s * naxes + a];
            for (int64_t j = 0; j < axes[static_cast<size_t>(a)] / 2; ++j) {
                const double freq = 1.0 / std::pow(theta, 2.0 * static_cast<double>(j) / static_cast<double>(axes[static_cast<size_t>(a)]));
                const int64_t i = s * dim + offset + 2 * j;
                cos[i] = cos[i + 1] = static_cast<float>(std::cos(pos * freq));
                sin[i] = sin[i + 1] = static_cast<float>(std::sin(pos * freq));
            }
            offset += axes[static_cast<size_t>(a)];
        }
    }
}

}  // namespace svdq
