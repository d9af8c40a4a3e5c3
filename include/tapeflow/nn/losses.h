#pragma once
/// tf.losses (TensorFlow 1.x): weighted losses with TensorFlow's names, arguments and reductions.
///
///   Tensor loss = losses::sparse_softmax_cross_entropy(labels, logits);              // a scalar []
///   Tensor loss = losses::mean_squared_error(y, prediction, mask, losses::Reduction::SUM);
///
/// They live in `tapeflow::losses`, as TensorFlow's live in `tf.losses` beside `tf.nn` (and as
/// `tf.layers` and `tf.train` are `tapeflow::layers` and `tapeflow::train`): `losses::` reduces
/// and weights, while `nn::softmax_cross_entropy_with_logits` and its kin give one loss per example.
///
/// Every loss computes per-element `losses`, multiplies them by `weights` and reduces the product
/// by `reduction`, as TensorFlow's compute_weighted_loss does:
/// - `weights` is a number (1.0 by default) or a tensor of any numeric or bool dtype, converted to
///   the losses' dtype. A tensor must be a scalar or have the losses' rank with each dimension 1 or
///   equal to the losses' (TensorFlow's rule, stricter than numpy's: weights [batch] against
///   losses [batch,1] is an error, not a [batch,batch] product). Weights that require grad get
///   gradients (through the denominator of MEAN too); use stop_gradient where they should not.
/// - A scalar result is divided as TensorFlow's div_no_nan: by a denominator of 0 it is 0.
///
/// The labels are converted to the dtype of the predictions / logits (float32 or float64), which
/// may make int or bool labels float (as TensorFlow casts them). Labels and predictions must have
/// the same shape; in graph mode an unknown dimension (`?`) matches any, and what the graph cannot
/// know when it is built is checked by the ops when it runs.
///
/// All of them are compositions of differentiable ops (first and second derivatives), in eager and
/// graph mode alike (graph tensors give graph tensors: nodes for each op). In graph mode TensorFlow
/// also adds the loss to the LOSSES collection; these functions do not (the nn layer does not
/// know graphs): `add_to_collection(GraphKeys::LOSSES, loss)` when you want it there.
#include <cstdint>

#include "tapeflow/tensor.h"

namespace tapeflow::losses {

/// How the weighted losses are reduced (tf.losses.Reduction).
enum class Reduction {
  NONE,                    // the weighted losses, unreduced: the losses' shape
  SUM,                     // sum(weighted losses) -> []
  MEAN,                    // sum(weighted losses) / sum(weights broadcast to the losses' shape) -> []
  SUM_OVER_BATCH_SIZE,     // sum(weighted losses) / number of elements of the losses -> []
  SUM_BY_NONZERO_WEIGHTS,  // sum(weighted losses) / number of nonzero weights (broadcast) -> [];
                           // TensorFlow 1.x's default
  SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS,  // TensorFlow's other (deprecated) name for it
};

/// TensorFlow's spelling of a reduction: "none", "weighted_sum", "weighted_mean",
/// "weighted_sum_over_batch_size", "weighted_sum_by_nonzero_weights".
const char* reduction_name(Reduction reduction);

/// A loss's `weights`: a number, `losses::mean_squared_error(y, p, 0.5)`, or a tensor,
/// `losses::mean_squared_error(y, p, mask)`. See the top of this file for the rules.
class Weights {
 public:
  Weights(double value = 1.0) : value_(value) {}  // NOLINT: implicit, as TensorFlow's weights=1.0
  Weights(Tensor tensor) : tensor_(std::move(tensor)) {}  // NOLINT
  /// The tensor; undefined for a number.
  const Tensor& tensor() const { return tensor_; }
  /// The number (meaningless for a tensor).
  double value() const { return value_; }

 private:
  double value_ = 1.0;
  Tensor tensor_;
};

/// tf.losses.compute_weighted_loss: `losses` (float, any shape) times `weights`, reduced.
/// NONE -> the losses' shape, else [].
Tensor compute_weighted_loss(const Tensor& losses, const Weights& weights = 1.0,
                             Reduction reduction = Reduction::SUM_BY_NONZERO_WEIGHTS);

/// (predictions - labels)^2 per element; labels and predictions [...] of one shape.
Tensor mean_squared_error(const Tensor& labels, const Tensor& predictions, const Weights& weights = 1.0,
                          Reduction reduction = Reduction::SUM_BY_NONZERO_WEIGHTS);

/// |predictions - labels| per element; labels and predictions [...] of one shape.
Tensor absolute_difference(const Tensor& labels, const Tensor& predictions, const Weights& weights = 1.0,
                           Reduction reduction = Reduction::SUM_BY_NONZERO_WEIGHTS);

/// Huber loss per element, with x = |predictions - labels|: x^2 / 2 where x <= delta, else
/// delta^2 / 2 + delta (x - delta). delta > 0 (ValueError otherwise). Computed as TensorFlow does
/// (quadratic = min(x, delta), linear = x - quadratic), so the gradient at x == delta is not doubled.
Tensor huber_loss(const Tensor& labels, const Tensor& predictions, const Weights& weights = 1.0,
                  double delta = 1.0, Reduction reduction = Reduction::SUM_BY_NONZERO_WEIGHTS);

/// Binary cross-entropy of probabilities per element:
/// -labels log(predictions + epsilon) - (1 - labels) log(1 - predictions + epsilon),
/// predictions in [0, 1]; labels and predictions [...] of one shape. epsilon >= 0.
Tensor log_loss(const Tensor& labels, const Tensor& predictions, const Weights& weights = 1.0,
                double epsilon = 1e-7, Reduction reduction = Reduction::SUM_BY_NONZERO_WEIGHTS);

/// Binary cross-entropy of logits per element, nn::sigmoid_cross_entropy_with_logits (stable for
/// any logits). multi_class_labels (in [0, 1], e.g. {0, 1} ints) and logits [...] of one shape.
/// label_smoothing in [0, 1] pulls the labels towards 1/2: labels (1 - ls) + ls / 2.
Tensor sigmoid_cross_entropy(const Tensor& multi_class_labels, const Tensor& logits, const Weights& weights = 1.0,
                             double label_smoothing = 0.0, Reduction reduction = Reduction::SUM_BY_NONZERO_WEIGHTS);

/// Softmax cross-entropy of a distribution over classes: onehot_labels and logits
/// [..., classes] -> losses [...] (nn::softmax_cross_entropy_with_logits). label_smoothing in
/// [0, 1] pulls the labels towards uniform: onehot_labels (1 - ls) + ls / classes (in graph mode the
/// number of classes must then be known). As TensorFlow, no gradient flows into the labels.
Tensor softmax_cross_entropy(const Tensor& onehot_labels, const Tensor& logits, const Weights& weights = 1.0,
                             double label_smoothing = 0.0, Reduction reduction = Reduction::SUM_BY_NONZERO_WEIGHTS);

/// Softmax cross-entropy of class ids: labels [...] (int32/int64, each in [0, classes)) and logits
/// [..., classes] -> losses [...] (nn::sparse_softmax_cross_entropy_with_logits). As TensorFlow,
/// labels [..., 1] (one more dimension, of size 1) are squeezed to [...], and so are weights of
/// rank labels' + 1 whose last dimension is 1.
/// label_smoothing (in [0, 1]) is not in TensorFlow 1.x's function: > 0 gives the loss of
/// softmax_cross_entropy(one_hot(labels, classes), logits, weights, label_smoothing) (and of
/// PyTorch's cross_entropy with label_smoothing: the same formula), computed without a one-hot
/// tensor as (1 - ls) (-log softmax[label]) + ls mean(-log softmax), so that the number of classes
/// may be unknown in graph mode and labels out of range still throw.
Tensor sparse_softmax_cross_entropy(const Tensor& labels, const Tensor& logits, const Weights& weights = 1.0,
                                    double label_smoothing = 0.0,
                                    Reduction reduction = Reduction::SUM_BY_NONZERO_WEIGHTS);

/// Kullback-Leibler divergence KL(labels || predictions) of probability distributions over the
/// last axis, as tf.keras.losses.KLD (kullback_leibler_divergence): both are clipped to
/// [epsilon, 1], then sum(labels * log(labels / predictions)) along the last axis. labels and
/// predictions [..., classes] of one shape -> losses [...]; epsilon in (0, 1) (Keras's 1e-7).
/// Not PyTorch's kl_div, which takes log-probabilities as `input`, does not clip, and is
/// per element (its reduction="none" summed over the last axis equals this where no value is
/// clipped). Weighted and reduced like the others (Keras reduces by SUM_OVER_BATCH_SIZE).
Tensor kl_divergence(const Tensor& labels, const Tensor& predictions, const Weights& weights = 1.0,
                     double epsilon = 1e-7, Reduction reduction = Reduction::SUM_BY_NONZERO_WEIGHTS);

}  // namespace tapeflow::losses
