#include "quant/lowrank.h"

#include <Eigen/Dense>
#include <algorithm>
#include <random>

#include "core/error.h"

namespace svdq {

namespace {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

constexpr int64_t kOversample = 16;
constexpr int kPowerIterations = 4;

Matrix orthonormal_columns(const Matrix& a) {
    Eigen::HouseholderQR<Matrix> qr(a);
    return qr.householderQ() * Matrix::Identity(a.rows(), a.cols());
}

LowRank from_svd(const Matrix& u, const Eigen::VectorXd& s, const Matrix& v, int64_t n, int64_t k, int64_t rank) {
    LowRank out;
    out.rank = rank;
    out.up.resize(static_cast<size_t>(n * rank));
    out.down.resize(static_cast<size_t>(rank * k));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t r = 0; r < rank; ++r) out.up[static_cast<size_t>(i * rank + r)] = static_cast<float>(u(i, r) * s(r));
    for (int64_t r = 0; r < rank; ++r)
        for (int64_t j = 0; j < k; ++j) out.down[static_cast<size_t>(r * k + j)] = static_cast<float>(v(j, r));
    return out;
}

LowRank exact(const Matrix& w, int64_t rank) {
    Eigen::BDCSVD<Matrix> svd(w, Eigen::ComputeThinU | Eigen::ComputeThinV);
    return from_svd(svd.matrixU(), svd.singularValues(), svd.matrixV(), w.rows(), w.cols(), rank);
}

LowRank randomized(const Matrix& w, int64_t rank) {
    const int64_t sketch = rank + kOversample;
    std::mt19937_64 rng(0x5d5eed);  // fixed: quantization must be reproducible
    std::normal_distribution<double> normal;
    Matrix omega(w.cols(), sketch);
    for (int64_t i = 0; i < omega.size(); ++i) omega.data()[i] = normal(rng);

    Matrix q = orthonormal_columns(w * omega);
    for (int i = 0; i < kPowerIterations; ++i) {
        const Matrix z = orthonormal_columns(w.transpose() * q);
        q = orthonormal_columns(w * z);
    }
    const Matrix b = q.transpose() * w;  // [sketch, k]
    Eigen::JacobiSVD<Matrix> svd(b, Eigen::ComputeThinU | Eigen::ComputeThinV);
    const Matrix u = q * svd.matrixU();
    return from_svd(u, svd.singularValues(), svd.matrixV(), w.rows(), w.cols(), rank);
}

}  // namespace

LowRank lowrank_decompose(const float* w, int64_t n, int64_t k, int64_t rank, SvdMethod method) {
    require(rank > 0 && rank <= std::min(n, k), SVDQ_ERROR_INVALID_ARGUMENT,
            "rank " + std::to_string(rank) + " must be in 1..min(N, K) = " + std::to_string(std::min(n, k)));
    const Matrix wd = MatrixMap(w, n, k).cast<double>();
    if (method == SvdMethod::Auto)
        method = rank + kOversample <= std::min(n, k) / 2 ? SvdMethod::Randomized : SvdMethod::Exact;
    return method == SvdMethod::Exact ? exact(wd, rank) : randomized(wd, rank);
}

}  // namespace svdq
