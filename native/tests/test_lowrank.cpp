#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <functional>
#include <string>

#include "backend/context.h"
#include "quant/lowrank.h"
#include "test_util.h"

namespace svdq {

namespace {

using MatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// W = U diag(s) V^T with a known, decaying spectrum.
std::vector<float> matrix_with_spectrum(int64_t n, int64_t k, uint64_t seed) {
    using M = Eigen::MatrixXd;
    const auto g1 = test::gaussian(static_cast<size_t>(n * n), seed);
    const auto g2 = test::gaussian(static_cast<size_t>(k * k), seed + 1);
    const M u = Eigen::HouseholderQR<M>(Eigen::Map<const Eigen::MatrixXf>(g1.data(), n, n).cast<double>()).householderQ();
    const M v = Eigen::HouseholderQR<M>(Eigen::Map<const Eigen::MatrixXf>(g2.data(), k, k).cast<double>()).householderQ();
    M s = M::Zero(n, k);
    for (int64_t i = 0; i < std::min(n, k); ++i) s(i, i) = 10.0 * std::pow(0.85, static_cast<double>(i));
    const M w = u * s * v.transpose();
    std::vector<float> out(static_cast<size_t>(n * k));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < k; ++j) out[static_cast<size_t>(i * k + j)] = static_cast<float>(w(i, j));
    return out;
}

std::vector<double> product(const LowRank& lr, int64_t n, int64_t k) {
    std::vector<double> p(static_cast<size_t>(n * k), 0.0);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t r = 0; r < lr.rank; ++r)
            for (int64_t j = 0; j < k; ++j)
                p[static_cast<size_t>(i * k + j)] += static_cast<double>(lr.up[static_cast<size_t>(i * lr.rank + r)]) *
                                                     lr.down[static_cast<size_t>(r * k + j)];
    return p;
}

}  // namespace

TEST(LowRank, RecoversAnExactlyLowRankMatrix) {
    const int64_t n = 96, k = 128, rank = 16;
    const auto a = test::gaussian(static_cast<size_t>(n * rank), 1);
    const auto b = test::gaussian(static_cast<size_t>(rank * k), 2);
    std::vector<float> w(static_cast<size_t>(n * k), 0.0f);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t r = 0; r < rank; ++r)
            for (int64_t j = 0; j < k; ++j) w[static_cast<size_t>(i * k + j)] += a[static_cast<size_t>(i * rank + r)] * b[static_cast<size_t>(r * k + j)];
    for (SvdMethod method : {SvdMethod::Exact, SvdMethod::Randomized}) {
        const LowRank lr = lowrank_decompose(w.data(), n, k, rank, method);
        EXPECT_LT(test::max_rel_error(product(lr, n, k), w), 1e-5);
    }
}

TEST(LowRank, RandomizedMatchesExactTopSubspace) {
    const int64_t n = 192, k = 256, rank = 32;
    const auto w = matrix_with_spectrum(n, k, 3);
    const auto exact = product(lowrank_decompose(w.data(), n, k, rank, SvdMethod::Exact), n, k);
    const auto randomized = product(lowrank_decompose(w.data(), n, k, rank, SvdMethod::Randomized), n, k);
    EXPECT_LT(test::frobenius_rel_error(randomized, exact), 1e-3);
    // And the exact truncation error equals the tail of the spectrum.
    double tail = 0.0, total = 0.0;
    for (int64_t i = 0; i < std::min(n, k); ++i) {
        const double s = 10.0 * std::pow(0.85, static_cast<double>(i));
        total += s * s;
        if (i >= rank) tail += s * s;
    }
    EXPECT_NEAR(test::frobenius_rel_error(exact, w), std::sqrt(tail / total), 1e-4);
}

TEST(LowRank, EveryMethodAndTheEngineGemmFindTheSameTopSubspace) {
    // The randomized SVD on the context's SIMD GEMM and threads, and the Gram
    // route the smoothing search uses (U U^T W, U the top eigenvectors of
    // W W^T), against the exact SVD.
    Context ctx(test::context_options());
    const int64_t n = 192, k = 256, rank = 32;
    const auto w = matrix_with_spectrum(n, k, 4);
    const auto exact = product(lowrank_decompose(w.data(), n, k, rank, SvdMethod::Exact), n, k);
    const auto on_engine = product(lowrank_decompose(w.data(), n, k, rank, SvdMethod::Randomized, &ctx), n, k);
    const Eigen::Map<const MatrixF> wm(w.data(), n, k);
    const MatrixF g = wm * wm.transpose();
    const std::vector<float> u_values = top_eigenvectors(g.data(), n, rank);
    const Eigen::Map<const MatrixF> u(u_values.data(), n, rank);
    const MatrixF projected = u * (u.transpose() * wm);
    const std::vector<double> gram(projected.data(), projected.data() + n * k);
    EXPECT_LT(test::frobenius_rel_error(on_engine, exact), 1e-3);
    EXPECT_LT(test::frobenius_rel_error(gram, exact), 1e-3);
}

// top_eigenvectors (inverse iteration on the tridiagonal form) against
// Eigen's full solver: orthonormal vectors that capture the top-r energy,
// on flat, outlier, clustered and rank-deficient spectra.
TEST(LowRank, TopEigenvectorsCaptureTheTopEigenvalues) {
    using MD = Eigen::MatrixXd;
    const int64_t n = 128, rank = 32;
    const auto orthogonal = [&](uint64_t seed) {
        const auto g = test::gaussian(static_cast<size_t>(n * n), seed);
        return MD(Eigen::HouseholderQR<MD>(Eigen::Map<const Eigen::MatrixXf>(g.data(), n, n).cast<double>()).householderQ());
    };
    std::vector<std::pair<std::string, Eigen::VectorXd>> spectra;
    Eigen::VectorXd flat(n), outliers(n), clustered(n), deficient = Eigen::VectorXd::Zero(n);
    for (int64_t i = 0; i < n; ++i) {
        flat(i) = 1.0 + 0.3 * std::sin(static_cast<double>(i));                  // Marchenko-Pastur-like bulk
        outliers(i) = i < 5 ? 1e4 / static_cast<double>(i + 1) : flat(i);        // a few dominant directions
        clustered(i) = i < 40 ? 10.0 - static_cast<double>(i / 10) : 1.0;        // four 10-fold eigenvalues
        if (i < 20) deficient(i) = 5.0 + static_cast<double>(i);                 // rank 20 < 32: zeros in the top 32
    }
    spectra = {{"flat", flat}, {"outliers", outliers}, {"clustered", clustered}, {"rank-deficient", deficient}};
    for (const auto& [name, spectrum] : spectra) {
        SCOPED_TRACE(name);
        const MD q = orthogonal(static_cast<uint64_t>(spectrum.size() + name.size()));
        const MD g = q * spectrum.asDiagonal() * q.transpose();
        const Eigen::MatrixXf gf = g.cast<float>();
        const MatrixF gr = gf;  // row-major, as the search hands it over
        const std::vector<float> values = top_eigenvectors(gr.data(), n, rank);
        const MD u = Eigen::Map<const MatrixF>(values.data(), n, rank).cast<double>();
        EXPECT_LT((u.transpose() * u - MD::Identity(rank, rank)).cwiseAbs().maxCoeff(), 1e-4);
        Eigen::VectorXd sorted = spectrum;
        std::sort(sorted.data(), sorted.data() + n, std::greater<double>());
        const double best = sorted.head(rank).sum(), captured = (u.transpose() * g * u).trace();
        EXPECT_GT(captured, best * (1.0 - 1e-5)) << captured << " of " << best;
    }
}

TEST(LowRank, RejectsARankOutsideTheMatrix) {
    const std::vector<float> w(64 * 8, 1.0f);
    EXPECT_ANY_THROW(lowrank_decompose(w.data(), 8, 64, 9));
    EXPECT_ANY_THROW(lowrank_decompose(w.data(), 8, 64, 0));
}

}  // namespace svdq
