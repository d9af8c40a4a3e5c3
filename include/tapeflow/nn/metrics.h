#pragma once
/// Evaluation helpers: tf.nn.zero_fraction and tf.confusion_matrix. Not differentiable.
#include <cstdint>

#include "tapeflow/tensor.h"

namespace tapeflow::nn {

/// tf.nn.zero_fraction: the fraction of elements of x (any dtype; false counts as zero) that are
/// zero, as a float32 scalar []. NaN for an empty x (0 / 0, as TensorFlow). Graph mode: a
/// "ZeroFraction" node.
Tensor zero_fraction(const Tensor& x);

/// tf.confusion_matrix: labels [n], predictions [n] (int32 or int64, values in
/// [0, num_classes)) -> int32 [num_classes, num_classes] where entry [i, j] counts the positions
/// with label i and prediction j (rows = labels, columns = predictions). num_classes = -1 takes
/// max(labels, predictions) + 1, as TensorFlow does when it is not given. Graph mode: a
/// "ConfusionMatrix" node, of static shape [?,?] when num_classes is -1.
Tensor confusion_matrix(const Tensor& labels, const Tensor& predictions, std::int64_t num_classes = -1);

}  // namespace tapeflow::nn
