#pragma once
/// tf.nn.dropout and tf.layers.flatten: the glue between convolutional and dense layers.
#include "tapeflow/ops/random.h"
#include "tapeflow/tensor.h"

namespace tapeflow::nn {

/// tf.nn.dropout (TensorFlow 1.x): keeps each element with probability keep_prob and scales the
/// kept ones by 1 / keep_prob (dropped ones become 0), so the expected value is unchanged.
/// x (float) -> same shape. keep_prob must be in (0, 1]; keep_prob == 1 returns x itself. The
/// mask is drawn from `gen` (the default generator when null), so a seeded Generator gives the
/// same mask; the backward uses that mask: dx = g * mask / keep_prob.
/// Graph mode: a "Dropout" node (none when keep_prob == 1) that draws a new mask at every
/// Session::run; `gen` must then outlive the graph's runs.
Tensor dropout(const Tensor& x, double keep_prob, Generator* gen = nullptr);

/// dropout with keep_prob a scalar tensor [] of x's dtype: in graph mode a placeholder, so one
/// graph trains with keep_prob 0.5 and evaluates with 1.0 (`{{keep_prob, scalar(1.0)}}`). Eager:
/// the same as the double overload with keep_prob.item() (same mask from `gen`, same range check
/// and message); also differentiable in keep_prob, as TensorFlow's x / keep_prob * mask:
/// d_keep_prob = -sum(g * y) / keep_prob. Graph mode: a "Dropout" node with inputs (x, keep_prob),
/// whose keep_prob is range-checked at build time when it is an eager tensor, else at each run.
Tensor dropout(const Tensor& x, const Tensor& keep_prob, Generator* gen = nullptr);

/// tf.layers.flatten: [N, d1, d2, ...] -> [N, d1*d2*...] (a rank-1 [N] gives [N,1]). Shares x's
/// data (a reshape). Graph mode: a "Reshape" node ([?,7,7,64] -> [?,3136]; an unknown
/// non-batch dimension makes the second one unknown).
Tensor flatten(const Tensor& x);

}  // namespace tapeflow::nn
