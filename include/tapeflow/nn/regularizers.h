#pragma once
/// Weight penalties (tf.contrib.layers regularizers) over lists of parameters. All return a
/// scalar [] of the parameters' dtype and are differentiable.
///
///   Tensor loss = nn::sparse_softmax_cross_entropy_with_logits(labels, logits) ...;
///   loss = loss + nn::l1_l2_regularization(model.parameters(), 0.0, 5e-4);
#include <functional>
#include <vector>

#include "tapeflow/nn/functional.h"
#include "tapeflow/tensor.h"

namespace tapeflow::nn {

/// sum over params of sum(|w|). params: non-empty, float, one dtype.
Tensor l1_loss(const std::vector<Tensor>& params);
/// sum over params of l2_loss(w) = sum(w^2) / 2 (tf.nn.l2_loss per tensor, summed).
Tensor l2_loss(const std::vector<Tensor>& params);
/// l1_scale * l1_loss(params) + l2_scale * l2_loss(params) (tf.contrib.layers.l1_l2_regularizer
/// applied to the list); a zero scale leaves its term out. Scales must be >= 0.
Tensor l1_l2_regularization(const std::vector<Tensor>& params, double l1_scale, double l2_scale);

/// A regularizer maps one weight tensor to a scalar penalty (tf.contrib.layers style).
using Regularizer = std::function<Tensor(const Tensor&)>;
/// w -> scale * sum(|w|). scale must be >= 0 (ValueError otherwise).
Regularizer l1_regularizer(double scale);
/// w -> scale * sum(w^2) / 2. scale must be >= 0.
Regularizer l2_regularizer(double scale);
/// w -> scale_l1 * sum(|w|) + scale_l2 * sum(w^2) / 2. Scales must be >= 0.
Regularizer l1_l2_regularizer(double scale_l1, double scale_l2);
/// tf.contrib.layers.apply_regularization: the sum of regularizer(w) over weights (non-empty) -> [].
Tensor apply_regularization(const Regularizer& regularizer, const std::vector<Tensor>& weights);

}  // namespace tapeflow::nn
