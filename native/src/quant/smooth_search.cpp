#include "quant/smooth_search.h"

#include <Eigen/Dense>
#include <algorithm>
#include <map>
#include <utility>

#include "core/thread_pool.h"
#include "core/numerics/fake_quant.h"
#include "quant/lowrank.h"
#include "quant/smoothing.h"

namespace svdq {

namespace {

using MatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapF = Eigen::Map<MatrixF>;
using ConstMapF = Eigen::Map<const MatrixF>;

using GridPoint = std::pair<int, int>;  // (alpha, beta) in grid steps

// Buffers one thread reuses from candidate to candidate: fresh multi-MB
// allocations per candidate cost more in page faults than the arithmetic.
struct ScoreWorkspace {
    MatrixF xq, scaled, gram, down_t, residual, product, y_t;
};

// y = x [m, w.k] times the packed W^T, on this thread: [m, w.n].
void times_transpose(const HostGemm& gemm, const float* x, int64_t m, const HostMatrix& w, MatrixF& y) {
    y.resize(m, w.n);
    gemm.multiply(x, m, w, y.data());
}

double score_smoothing(const SearchProblem& p, float alpha, float beta, ScoreWorkspace& ws) {
    const HostGemm& gemm = *p.gemm;
    const int64_t k = p.k, t = p.tokens, rank = p.rank;
    const std::vector<float> lambda = smoothing_from_maxima(p.xmax, p.wmax, alpha, beta);
    const Eigen::Map<const Eigen::RowVectorXf> lam(lambda.data(), k);
    const Eigen::RowVectorXf lam2 = lam.array().square();

    ws.xq = ConstMapF(p.x.data(), t, k).array().rowwise() / lam.array();
    fake_quantize_rows(p.format, ws.xq.data(), t, k, true, ws.xq.data(), nullptr);
    const std::unique_ptr<HostMatrix> xq_packed = gemm.pack(ws.xq.data(), t, k);

    double error = 0.0;
    for (const SearchLayer& layer : p.layers) {
        const int64_t rows = layer.rows;
        const ConstMapF w(layer.weight.data(), rows, k), y_ref_t(layer.y_ref_t.data(), rows, t);
        if (rank > 0) {
            // U: top eigenvectors of (W lambda)(W lambda)^T = (W lambda^2) W^T.
            ws.scaled = w.array().rowwise() * lam2.array();
            // The lower triangle is what top_eigenvectors reads.
            ws.gram.resize(rows, rows);
            gemm.gram_lower(ws.scaled.data(), *layer.packed, ws.gram.data());
            const std::vector<float> u_values = top_eigenvectors(ws.gram.data(), rows, rank);
            const ConstMapF u(u_values.data(), rows, rank);
            // Residual W lambda - U (U^T W) lambda, U^T W through W^T U.
            const MatrixF ut = u.transpose();
            times_transpose(gemm, layer.weight_t.data(), k, *gemm.pack(ut.data(), rank, rows), ws.down_t);
            times_transpose(gemm, u.data(), rows, *gemm.pack(ws.down_t.data(), k, rank), ws.product);
            ws.residual = (w - ws.product).array().rowwise() * lam.array();
            // The branch's output X/lambda (U^T W lambda)^T U^T, transposed, is U U^T W X^T.
            ws.y_t.noalias() = u * (ut * y_ref_t);
        } else {
            ws.residual = w.array().rowwise() * lam.array();
            ws.y_t.setZero(rows, t);
        }
        fake_quantize_rows(p.format, ws.residual.data(), rows, k, false, ws.residual.data(), nullptr);
        times_transpose(gemm, ws.residual.data(), rows, *xq_packed, ws.product);
        error += static_cast<double>((ws.y_t + ws.product - y_ref_t).squaredNorm()) / layer.ref_norm2;
    }
    return error / static_cast<double>(p.layers.size());
}

}  // namespace

SearchResult search_smoothing(const SearchProblem& p, svdq_smooth_search mode, int grid_steps, ThreadPool& pool) {
    std::map<GridPoint, double> scored;
    const auto value = [&](int i) { return static_cast<float>(i) / static_cast<float>(grid_steps); };
    // Scores the points not seen yet, in parallel; returns the best seen so far.
    const auto evaluate = [&](const std::vector<GridPoint>& points) {
        std::vector<GridPoint> todo;
        for (const GridPoint& g : points)
            if (scored.count(g) == 0 && std::find(todo.begin(), todo.end(), g) == todo.end()) todo.push_back(g);
        std::vector<double> errors(todo.size());
        const int64_t workers = std::min<int64_t>(pool.size(), static_cast<int64_t>(todo.size()));
        pool.parallel_for(workers, [&](int64_t worker) {
            ScoreWorkspace workspace;
            for (size_t i = static_cast<size_t>(worker); i < todo.size(); i += static_cast<size_t>(workers))
                errors[i] = score_smoothing(p, value(todo[i].first), value(todo[i].second), workspace);
        });
        for (size_t i = 0; i < todo.size(); ++i) scored[todo[i]] = errors[i];
        return std::min_element(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.second < b.second; })->first;
    };

    const int stride = mode == SVDQ_SEARCH_EXHAUSTIVE ? 1 : std::max(1, grid_steps / 4);
    std::vector<GridPoint> grid;
    for (int a = 0; a <= grid_steps; a += stride) {
        for (int b = 0; b <= grid_steps; b += stride) grid.emplace_back(a, b);
        if (grid_steps % stride != 0) grid.emplace_back(a, grid_steps);
    }
    if (grid_steps % stride != 0)
        for (int b = 0; b <= grid_steps; b += stride) grid.emplace_back(grid_steps, b);
    GridPoint best = evaluate(grid);

    // Pattern search on the full grid around the coarse optimum, halving the step.
    for (int d = stride / 2 + stride % 2; mode == SVDQ_SEARCH_COARSE_TO_FINE && stride > 1 && d >= 1; d = d == 1 ? 0 : d / 2 + d % 2) {
        for (;;) {
            std::vector<GridPoint> around;
            for (int da = -d; da <= d; da += d)
                for (int db = -d; db <= d; db += d) {
                    const int a = best.first + da, b = best.second + db;
                    if (a >= 0 && a <= grid_steps && b >= 0 && b <= grid_steps) around.emplace_back(a, b);
                }
            const GridPoint next = evaluate(around);
            if (next == best) break;
            best = next;
        }
    }
    return {value(best.first), value(best.second), scored[best], static_cast<int>(scored.size())};
}

}  // namespace svdq
