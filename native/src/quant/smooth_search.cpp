#include "quant/smooth_search.h"

#include <Eigen/Dense>
#include <algorithm>
#include <map>
#include <utility>

#include "core/thread_pool.h"
#include "quant/fake_quant.h"
#include "quant/lowrank.h"
#include "quant/smoothing.h"

namespace svdq {

namespace {

using MatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapF = Eigen::Map<MatrixF>;
using ConstMapF = Eigen::Map<const MatrixF>;

using GridPoint = std::pair<int, int>;  // (alpha, beta) in grid steps

}  // namespace

double score_smoothing(const SearchProblem& p, float alpha, float beta) {
    const int64_t k = p.k, t = p.tokens;
    const std::vector<float> lambda = smoothing_from_maxima(p.xmax, p.wmax, alpha, beta);
    const Eigen::Map<const Eigen::RowVectorXf> lam(lambda.data(), k);

    MatrixF xs = ConstMapF(p.x.data(), t, k).array().rowwise() / lam.array();
    MatrixF xq(t, k);
    fake_quantize_rows(p.format, xs.data(), t, k, true, xq.data(), nullptr);

    double error = 0.0;
    for (const SearchLayer& layer : p.layers) {
        MatrixF ws = ConstMapF(layer.weight.data(), layer.rows, k).array().rowwise() * lam.array();
        MatrixF y;
        if (p.rank > 0) {
            const LowRank lr = lowrank_decompose(ws.data(), layer.rows, k, p.rank, SvdMethod::Gram);
            const ConstMapF up(lr.up.data(), layer.rows, p.rank), down(lr.down.data(), p.rank, k);
            ws.noalias() -= up * down;
            y.noalias() = (xs * down.transpose()) * up.transpose();
        } else {
            y = MatrixF::Zero(t, layer.rows);
        }
        MatrixF wq(layer.rows, k);
        fake_quantize_rows(p.format, ws.data(), layer.rows, k, false, wq.data(), nullptr);
        y.noalias() += xq * wq.transpose();
        error += static_cast<double>((y - ConstMapF(layer.y_ref.data(), t, layer.rows)).squaredNorm()) / layer.ref_norm2;
    }
    return error / static_cast<double>(p.layers.size());
}

SearchResult search_smoothing(const SearchProblem& p, svdq_smooth_search mode, int grid_steps, ThreadPool& pool) {
    std::map<GridPoint, double> scored;
    const auto value = [&](int i) { return static_cast<float>(i) / static_cast<float>(grid_steps); };
    // Scores the points not seen yet, in parallel; returns the best seen so far.
    const auto evaluate = [&](const std::vector<GridPoint>& points) {
        std::vector<GridPoint> todo;
        for (const GridPoint& g : points)
            if (scored.count(g) == 0 && std::find(todo.begin(), todo.end(), g) == todo.end()) todo.push_back(g);
        std::vector<double> errors(todo.size());
        pool.parallel_for(static_cast<int64_t>(todo.size()), [&](int64_t i) {
            errors[static_cast<size_t>(i)] = score_smoothing(p, value(todo[static_cast<size_t>(i)].first), value(todo[static_cast<size_t>(i)].second));
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
