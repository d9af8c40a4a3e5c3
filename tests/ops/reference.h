#pragma once
// Helpers of the ops tests: the inputs of the tests whose expected values numpy and torch computed
// (the Python that did so is quoted next to each), a pattern that both sides compute with the same
// double arithmetic; and swap_last.
#include <utility>
#include <vector>

#include "tapeflow/tapeflow.h"

namespace tft {

/// float64 [shape] with element i = ((7 i) mod 11) * scale + offset: in numpy,
/// `((np.arange(n) * 7) % 11) * scale + offset` reshaped. Eleven distinct values, no requires_grad.
inline tapeflow::Tensor pattern(const tapeflow::Shape& shape, double scale = 0.2, double offset = -1.0) {
  std::vector<double> v(static_cast<std::size_t>(shape.numel()));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>((i * 7) % 11) * scale + offset;
  return tapeflow::from_vector(v, shape);
}

/// The gradient of sum(w * f(x)) with respect to (a copy of) x, for the weights w = pattern(f(x)'s
/// shape, 0.5, 0.25) that the Python side uses.
inline tapeflow::Tensor weighted_grad(const std::function<tapeflow::Tensor(const tapeflow::Tensor&)>& f,
                                      const tapeflow::Tensor& x_in) {
  tapeflow::Tensor x = x_in.clone();
  x.requires_grad_();
  tapeflow::Tensor y = f(x);
  tapeflow::reduce_sum(y * pattern(y.shape(), 0.5, 0.25)).backward();
  return x.grad();
}

/// Swaps the last two dims of a rank >= 2 tensor (the stored form of a transposed matmul operand).
inline tapeflow::Tensor swap_last(const tapeflow::Tensor& x) {
  std::vector<int> perm;
  for (int i = 0; i < x.rank(); ++i) perm.push_back(i);
  std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
  return tapeflow::transpose(x, perm);
}

}  // namespace tft
