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
Tensor dropout(const Tensor& x, double keep_prob, Generator* gen = nullptr);

/// tf.layers.flatten: [N, d1, d2, ...] -> [N, d1*d2*...] (a rank-1 [N] gives [N,1]). Shares x's
/// data (a reshape).
Tensor flatten(const Tensor& x);

}  // namespace tapeflow::nn
