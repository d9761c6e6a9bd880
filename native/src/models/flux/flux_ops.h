// Row operations shared by the FLUX blocks and the model around them.
#pragma once

#include <cstdint>
#include <vector>

namespace svdq {

class Context;
struct RopeTables;

constexpr float kFluxNormEps = 1e-6f;  // every LayerNorm and q/k RMSNorm in FLUX

std::vector<float> silu(std::vector<float> v);

// Rows [b * tokens, (b + 1) * tokens) of x normalised and modulated with
// chunks `scale_chunk` and `shift_chunk` of batch b's modulation row
// (`chunks` chunks of d).
std::vector<float> modulated_norm(const std::vector<float>& x, int64_t batch, int64_t tokens, int64_t d,
                                  const std::vector<float>& mod, int64_t chunks, int64_t shift_chunk, int64_t scale_chunk);

// x += gate * update, with gate = chunk `gate_chunk` of batch b's modulation.
void gated_add(std::vector<float>& x, const std::vector<float>& update, int64_t batch, int64_t tokens, int64_t d,
               const std::vector<float>& mod, int64_t chunks, int64_t gate_chunk);

// Copies rows [src_row, src_row + rows) of a [*, d] matrix into dst at dst_row.
void copy_rows(const std::vector<float>& src, int64_t src_row, std::vector<float>& dst, int64_t dst_row, int64_t rows, int64_t d);

// Columns [col, col + width) of every row of a [rows, stride] matrix.
std::vector<float> take_columns(const std::vector<float>& x, int64_t rows, int64_t stride, int64_t col, int64_t width);

// Attention over `tokens` joint rows per batch item, RoPE applied to q and k
// first (in the copies passed in). q, k, v, result: [batch * tokens, heads * head_dim].
std::vector<float> joint_attention(Context& ctx, std::vector<float> q, std::vector<float> k, const std::vector<float>& v,
                                   int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim, const RopeTables& rope);

}  // namespace svdq
