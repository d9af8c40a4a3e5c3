#pragma once
// Internal: the gradient ops of elementwise.cpp that other ops reuse in their backward.
#include "tapeflow/tensor.h"

namespace tapeflow::detail {

/// TensorFlow's ReluGrad(gradients, features): g where y > 0, else 0 (y: relu's output, or the
/// output of an op with a fused ReLU). An op of its own, differentiable in turn.
Tensor relu_grad(const Tensor& g, const Tensor& y);

}  // namespace tapeflow::detail
