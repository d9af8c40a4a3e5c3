#pragma once
/// Reductions. `axes` empty means all axes; negative axes count from the back. keepdims keeps
/// reduced axes as size 1. Output shape: the input shape without (or with size-1) reduced axes.
#include <cstdint>
#include <vector>

#include "tapeflow/tensor.h"

namespace tapeflow {

using Axes = std::vector<int>;

Tensor reduce_sum(const Tensor& x, const Axes& axes = {}, bool keepdims = false);
Tensor reduce_mean(const Tensor& x, const Axes& axes = {}, bool keepdims = false);
/// Gradient split evenly among tied maxima (as TensorFlow).
Tensor reduce_max(const Tensor& x, const Axes& axes = {}, bool keepdims = false);
Tensor reduce_min(const Tensor& x, const Axes& axes = {}, bool keepdims = false);
/// log(sum(exp(x))), computed stably.
Tensor reduce_logsumexp(const Tensor& x, const Axes& axes = {}, bool keepdims = false);
/// tf.math.reduce_variance: the mean of (x - mean(x))^2 over `axes` (the biased estimate,
/// dividing by the count), float32/float64.
Tensor reduce_variance(const Tensor& x, const Axes& axes = {}, bool keepdims = false);
/// tf.math.reduce_std: sqrt(reduce_variance(x)), biased likewise. Its gradient is infinite where
/// the variance is 0.
Tensor reduce_std(const Tensor& x, const Axes& axes = {}, bool keepdims = false);
/// tf.cumsum: running sums along `axis`, same shape as x: [a, b, c] -> [a, a+b, a+b+c].
/// `exclusive` leaves each element out of its own sum ([0, a, a+b]); `reverse` sums from the end
/// ([a+b+c, b+c, c]). Numeric dtypes; differentiable (the gradient runs the other way).
Tensor cumsum(const Tensor& x, int axis = 0, bool exclusive = false, bool reverse = false);
/// Index (int64) of the largest / smallest value along `axis`; the first on ties.
Tensor argmax(const Tensor& x, int axis = -1);
Tensor argmin(const Tensor& x, int axis = -1);

/// What top_k returns: `auto [values, indices] = top_k(logits, 5);`.
struct TopK {
  Tensor values;   // [..., k], x's dtype
  Tensor indices;  // [..., k], int32: where each value stands along the last dimension
};
/// tf.nn.top_k: the k largest entries along the last dimension of x [..., n] (k <= n), largest
/// first; among equal values the lower index comes first (NaN counts as the largest). With
/// sorted = false they come in the order they stand in x instead. Numeric dtypes; the values'
/// gradient goes back to the positions they were taken from (zero elsewhere).
TopK top_k(const Tensor& x, std::int64_t k = 1, bool sorted = true);

/// Sums `x` over the broadcast dimensions so that it has `shape` (the gradient of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);

}  // namespace tapeflow
