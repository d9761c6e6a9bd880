#include "quant/block_quantizer.h"

#include <map>
#include <utility>

#include "backend/context.h"

namespace svdq {

void quantize_block(Context& ctx, const QuantizableBlock& block, const QuantizerOptions& options,
                    QuantizedLinearSink store, QuantizedLinearReport report) {
    const std::vector<QuantizableBlock::Entry>& linears = block.linears();
    const std::vector<std::vector<size_t>>& groups = block.input_groups();

    std::map<const Linear*, size_t> group_of;
    for (size_t g = 0; g < groups.size(); ++g) group_of[linears[groups[g].front()].layer] = g;
    std::vector<std::vector<float>> inputs(groups.size());
    block.run([&](const Linear& layer, const std::vector<float>& x, int64_t) {
        const auto it = group_of.find(&layer);
        if (it != group_of.end()) inputs[it->second].insert(inputs[it->second].end(), x.begin(), x.end());
    });

    std::vector<bool> grouped(linears.size(), false);
    for (size_t g = 0; g < groups.size(); ++g) {
        std::vector<LayerToQuantize> layers;
        std::vector<std::string> names;
        std::vector<svdq_activation> activations;
        int64_t k = 0;
        for (size_t i : groups[g]) {
            grouped[i] = true;
            LinearWeights f = block.float_weights(i);
            k = f.k;
            activations.push_back(f.activation);
            layers.push_back({f.n, std::move(f.weight), std::move(f.bias)});
            names.push_back(linears[i].name);
        }
        const int64_t m = static_cast<int64_t>(inputs[g].size()) / k;
        QuantizedLayers q = quantize_layers(layers, k, inputs[g].data(), m, options, ctx, names);
        const std::vector<float> score = sample_rows(inputs[g].data(), m, k, options.score_tokens);
        std::vector<float>().swap(inputs[g]);
        for (size_t j = 0; j < groups[g].size(); ++j) {
            LinearWeights& w = q.layers[j];
            w.activation = activations[j];
            store(groups[g][j], w);
            const Linear built(ctx, w);
            report(names[j], relative_output_error(ctx, {&built}, {layers[j]}, score.data(),
                                                   static_cast<int64_t>(score.size()) / k, k));
        }
    }
    for (size_t i = 0; i < linears.size(); ++i) {
        if (grouped[i]) continue;
        LinearWeights w = block.float_weights(i);
        w.scheme = SVDQ_SCHEME_W4A16;
        w.format = SVDQ_FORMAT_INT4;
        store(i, w);
        report(linears[i].name, -1.0f);
    }
}

}  // namespace svdq
