#pragma once
/// Linear algebra: products, matrix bands, norms, einsum.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tapeflow/ops/reduce.h"
#include "tapeflow/tensor.h"

namespace tapeflow {

/// [M,K] x [K,N] -> [M,N]. Batches, numpy's matmul: [...,M,K] x [...,K,N] -> [...,M,N], where the
/// batch dimensions (all but the last two) broadcast: [B,T,D] x [D,E] -> [B,T,E],
/// [B,H,T,D] x [B,H,D,T] -> [B,H,T,T], [B,1,T,D] x [H,D,E] -> [B,H,T,E]. Both need rank >= 2.
/// transpose_a / transpose_b use the transposes of the last two dims. The gradient of an operand
/// is summed over the batch dimensions it was broadcast along. In graph mode: MatMul for two
/// matrices, else BatchMatMulV2 (as tf.matmul).
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);

/// tf.norm of float32/float64 x. `axis`: none (x as one vector, whatever its rank), one axis (a
/// vector norm of each vector along it) or two (a matrix norm over the rows axis[0] and the
/// columns axis[1]). `ord`: "euclidean" (the default: sqrt of the sum of squares; for matrices the
/// Frobenius norm) or "fro" (matrices only). The output drops the normed axes (keeps them as 1
/// with keepdims). The gradient of the euclidean norm is infinite where x is 0.
Tensor norm(const Tensor& x, std::string_view ord = "euclidean", const Axes& axis = {}, bool keepdims = false);
/// tf.norm with a numeric `ord`: vectors 1 (sum of |x|), 2, INFINITY (max |x|) or any p > 0
/// ((sum |x|^p)^(1/p)); matrices 1 (the largest column sum of |x|) or INFINITY (the largest row
/// sum). The spectral norm (ord 2 of a matrix) is not provided.
Tensor norm(const Tensor& x, double ord, const Axes& axis = {}, bool keepdims = false);

/// tf.einsum, for equations whose dimensions are each named by a letter:
/// "ij,jk->ik", "bij,bjk->bik", "bhqd,bhkd->bhqk", "bi,bi->b", "i,j->ij", "ij->ji", "bij->j",
/// "ab,bc,cd->ad". Lowered to transpose, reshape, reduce_sum and matmul (operands contracted two at
/// a time from the left), so differentiable to any order and in graph mode. Without "->" the
/// output is the letters that appear once, in alphabetical order (numpy's rule). A letter names
/// one size throughout; within one operand it appears at most once (no diagonals), and
/// broadcasting ("...") is not part of the grammar: name those dimensions with letters.
/// In graph mode, at most one unknown dimension may be merged with others for a product.
Tensor einsum(const std::string& equation, const std::vector<Tensor>& inputs);

namespace linalg {

/// tf.linalg.band_part: input [..., M, N] with everything outside a band around the diagonal set
/// to 0: element (i, j) is kept when i - j <= num_lower and j - i <= num_upper; a negative
/// num_lower (num_upper) keeps the whole lower (upper) triangle. band_part(x, -1, 0) is the lower
/// triangle (a causal mask from ones), band_part(x, 0, 0) the diagonal. Any dtype; differentiable.
Tensor band_part(const Tensor& input, std::int64_t num_lower, std::int64_t num_upper);

}  // namespace linalg

}  // namespace tapeflow
