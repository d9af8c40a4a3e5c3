#pragma once
/// Reductions. `axes` empty means all axes; negative axes count from the back. keepdims keeps
/// reduced axes as size 1. Output shape: the input shape without (or with size-1) reduced axes.
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
/// Index (int64) of the largest / smallest value along `axis`; the first on ties.
Tensor argmax(const Tensor& x, int axis = -1);
Tensor argmin(const Tensor& x, int axis = -1);

/// Sums `x` over the broadcast dimensions so that it has `shape` (the gradient of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);

}  // namespace tapeflow
