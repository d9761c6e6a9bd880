#include "quant/lowrank.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "core/error.h"
#include "backend/context.h"

namespace svdq {

namespace {

// float64 work in Eigen's own column-major layout: its SVDs run on that
// internally, so a row-major type would compile every solver twice (20 s).
using Matrix = Eigen::MatrixXd;
using MatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<const MatrixF>;

constexpr int64_t kOversample = 16;
constexpr int kPowerIterations = 4;

MatrixF orthonormal_columns(const MatrixF& a) {
    Eigen::HouseholderQR<MatrixF> qr(a);
    return qr.householderQ() * MatrixF::Identity(a.rows(), a.cols());
}

// a^T, in 64 x 64 tiles: Eigen's element-wise copy strides through all of a
// (tens of ms for a FLUX-sized layer).
MatrixF transposed(const MatrixMap& a) {
    constexpr int64_t kTile = 64;
    MatrixF t(a.cols(), a.rows());
    for (int64_t i0 = 0; i0 < a.rows(); i0 += kTile)
        for (int64_t j0 = 0; j0 < a.cols(); j0 += kTile) {
            const int64_t rows = std::min(kTile, a.rows() - i0), cols = std::min(kTile, a.cols() - j0);
            t.block(j0, i0, cols, rows) = a.block(i0, j0, rows, cols).transpose();
        }
    return t;
}

// Products with W [n, k]: on the engine's float GEMM (its SIMD kernels and
// threads) when a context is given, else with Eigen on this thread.
class Products {
public:
    Products(const MatrixMap& w, Context* ctx) : w_(w), ctx_(ctx) {
        if (ctx_) wt_ = transposed(w_);
    }

    MatrixF times(const MatrixF& b) const { return ctx_ ? gemm(w_.data(), w_.rows(), b) : MatrixF(w_ * b); }
    MatrixF transpose_times(const MatrixF& b) const {
        return ctx_ ? gemm(wt_.data(), wt_.rows(), b) : MatrixF(w_.transpose() * b);
    }

private:
    // a [rows, b.rows()] b, as the GEMM's X W^T with W = b^T.
    MatrixF gemm(const float* a, int64_t rows, const MatrixF& b) const {
        const MatrixF bt = b.transpose();
        const HostGemm& gemm = ctx_->host_gemm();
        MatrixF out(rows, b.cols());
        gemm.multiply(a, rows, *gemm.pack(bt.data(), bt.rows(), bt.cols()), out.data(), ctx_->pool());
        return out;
    }

    const MatrixMap& w_;
    Context* ctx_;
    MatrixF wt_;  // W^T, with a context only
};

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

LowRank exact(const MatrixMap& w, int64_t rank) {
    Eigen::BDCSVD<Matrix> svd(w.cast<double>(), Eigen::ComputeThinU | Eigen::ComputeThinV);
    return from_svd(svd.matrixU(), svd.singularValues(), svd.matrixV(), w.rows(), w.cols(), rank);
}

LowRank randomized(const MatrixMap& w, int64_t rank, Context* ctx) {
    const Products products(w, ctx);
    const int64_t sketch = rank + kOversample;
    std::mt19937_64 rng(0x5d5eed);  // fixed: quantization must be reproducible
    std::normal_distribution<float> normal;
    MatrixF omega(w.cols(), sketch);
    for (int64_t i = 0; i < omega.size(); ++i) omega.data()[i] = normal(rng);

    MatrixF q = orthonormal_columns(products.times(omega));
    for (int i = 0; i < kPowerIterations; ++i) {
        const MatrixF z = orthonormal_columns(products.transpose_times(q));
        q = orthonormal_columns(products.times(z));
    }
    // SVD of b = q^T w [sketch, k] through b^T = Q R: a Jacobi SVD of the
    // small R^T instead of the wide b (50x faster at k = 3072).
    const Matrix bt = products.transpose_times(q).cast<double>();
    Eigen::HouseholderQR<Matrix> qr(bt);
    const Matrix r = qr.matrixQR().topRows(sketch).triangularView<Eigen::Upper>();
    Eigen::JacobiSVD<Matrix> svd(r.transpose(), Eigen::ComputeFullU | Eigen::ComputeFullV);
    const Matrix u = q.cast<double>() * svd.matrixU();
    const Matrix v = qr.householderQ() * (Matrix::Identity(bt.rows(), sketch) * svd.matrixV());
    return from_svd(u, svd.singularValues(), v, w.rows(), w.cols(), rank);
}

}  // namespace

LowRank lowrank_decompose(const float* w, int64_t n, int64_t k, int64_t rank, SvdMethod method, Context* ctx) {
    require(rank > 0 && rank <= std::min(n, k), SVDQ_ERROR_INVALID_ARGUMENT,
            "rank " + std::to_string(rank) + " must be in 1..min(N, K) = " + std::to_string(std::min(n, k)));
    const MatrixMap wm(w, n, k);
    if (method == SvdMethod::Auto)
        method = rank + kOversample <= std::min(n, k) / 2 ? SvdMethod::Randomized : SvdMethod::Exact;
    switch (method) {
        case SvdMethod::Exact: return exact(wm, rank);
        default: return randomized(wm, rank, ctx);
    }
}

namespace {

// LU with partial pivoting of T - mu I for the tridiagonal T (diagonal d,
// off-diagonal e); a pivot that vanishes is replaced by `tiny`, which is
// what inverse iteration wants (mu is an eigenvalue, so T - mu I is singular
// up to rounding). Buffers are reused from shift to shift.
class ShiftedTridiagonalLu {
public:
    ShiftedTridiagonalLu(const Eigen::VectorXd& d, const Eigen::VectorXd& e, double tiny)
        : d_(d), e_(e), tiny_(tiny), u0_(d.size()), u1_(d.size()), u2_(d.size()), l_(d.size()),
          swapped_(static_cast<size_t>(d.size())) {}

    void factor(double mu) {
        const Eigen::Index n = d_.size();
        // U: diagonal u0 and two superdiagonals u1, u2; l: the multipliers.
        u0_ = d_.array() - mu;
        u1_.setZero();
        u2_.setZero();
        u1_.head(n - 1) = e_;
        double below = n > 1 ? e_(0) : 0.0;  // row i + 1's entry in column i
        for (Eigen::Index i = 0; i + 1 < n; ++i) {
            double next_diag = d_(i + 1) - mu, next_super = i + 2 < n ? e_(i + 1) : 0.0;
            swapped_[static_cast<size_t>(i)] = std::abs(below) > std::abs(u0_(i));
            if (swapped_[static_cast<size_t>(i)]) {
                std::swap(u0_(i), below);
                std::swap(u1_(i), next_diag);
                std::swap(u2_(i), next_super);
            }
            if (u0_(i) == 0.0) u0_(i) = tiny_;
            l_(i) = below / u0_(i);
            u0_(i + 1) = next_diag - l_(i) * u1_(i);
            if (i + 2 < n) u1_(i + 1) = next_super - l_(i) * u2_(i);
            below = i + 2 < n ? e_(i + 1) : 0.0;
        }
        if (u0_(n - 1) == 0.0) u0_(n - 1) = tiny_;
    }

    // b = (T - mu I)^-1 b for the last factor(mu).
    void solve(Eigen::VectorXd& b) const {
        const Eigen::Index n = d_.size();
        for (Eigen::Index i = 0; i + 1 < n; ++i) {
            if (swapped_[static_cast<size_t>(i)]) std::swap(b(i), b(i + 1));
            b(i + 1) -= l_(i) * b(i);
        }
        for (Eigen::Index i = n - 1; i >= 0; --i) {
            double v = b(i);
            if (i + 1 < n) v -= u1_(i) * b(i + 1);
            if (i + 2 < n) v -= u2_(i) * b(i + 2);
            b(i) = v / u0_(i);
        }
    }

private:
    const Eigen::VectorXd& d_;
    const Eigen::VectorXd& e_;
    double tiny_;
    Eigen::VectorXd u0_, u1_, u2_, l_;
    std::vector<char> swapped_;
};

}  // namespace

std::vector<float> top_eigenvectors(const float* symmetric, int64_t n, int64_t rank) {
    require(rank > 0 && rank <= n, SVDQ_ERROR_INVALID_ARGUMENT,
            "rank " + std::to_string(rank) + " must be in 1..n = " + std::to_string(n));
    // A = Q T Q^T (Householder), T's eigenvalues by QR without vectors, the
    // wanted eigenvectors of T by inverse iteration (LAPACK's stein), then
    // back through Q: under half the time of the full solver, which turns
    // every rotation into all n vectors.
    Eigen::MatrixXf a = Eigen::Map<const MatrixF>(symmetric, n, n).triangularView<Eigen::Lower>();
    a.triangularView<Eigen::StrictlyUpper>() = a.transpose();
    const Eigen::Tridiagonalization<Eigen::MatrixXf> tri(a);
    const Eigen::VectorXd d = tri.diagonal().cast<double>();
    const Eigen::VectorXd e = n > 1 ? Eigen::VectorXd(tri.subDiagonal().cast<double>()) : Eigen::VectorXd(0);
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> values;
    values.computeFromTridiagonal(d, e, Eigen::EigenvaluesOnly);
    const Eigen::VectorXd& lambda = values.eigenvalues();  // ascending

    double norm = 0.0;
    for (Eigen::Index i = 0; i < d.size(); ++i)
        norm = std::max(norm, std::abs(d(i)) + (i > 0 ? std::abs(e(i - 1)) : 0.0) + (i + 1 < d.size() ? std::abs(e(i)) : 0.0));
    norm = std::max(norm, std::numeric_limits<double>::min());
    const double eps = std::numeric_limits<double>::epsilon();
    Eigen::MatrixXd z(n, rank);
    ShiftedTridiagonalLu lu(d, e, eps * norm);
    std::mt19937_64 rng(0x5d5eed);  // fixed start vectors: reproducible
    std::uniform_real_distribution<double> uniform(-1.0, 1.0);
    Eigen::Index cluster = 0;  // first column of the current cluster
    double shift = 0.0;
    for (Eigen::Index j = 0; j < rank; ++j) {
        double mu = lambda(n - 1 - j);
        // Eigenvalues within 1e-3 ||T|| form a cluster whose vectors are
        // orthogonalized against each other; equal ones get shifts apart.
        if (j > 0 && lambda(n - j) - mu > 1e-3 * norm) cluster = j;
        if (j > 0 && shift - mu < 10.0 * eps * norm) mu = shift - 10.0 * eps * norm;
        shift = mu;
        Eigen::VectorXd x(n);
        for (Eigen::Index i = 0; i < n; ++i) x(i) = uniform(rng);
        lu.factor(mu);
        for (int iteration = 0; iteration < 3; ++iteration) {
            x /= x.norm();
            lu.solve(x);
            for (Eigen::Index c = cluster; c < j; ++c) x -= z.col(c).dot(x) * z.col(c);
        }
        z.col(j) = x / x.norm();
    }
    const Eigen::MatrixXf q = tri.matrixQ();
    std::vector<float> u(static_cast<size_t>(n * rank));
    Eigen::Map<MatrixF>(u.data(), n, rank) = q * z.cast<float>();
    return u;
}

}  // namespace svdq
