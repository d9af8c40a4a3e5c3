// tf.losses: per-element losses composed of ops, weighted and reduced as TensorFlow 1.x's
// compute_weighted_loss; and tf.nn.sigmoid_cross_entropy_with_logits, which they build on.
#include "tapeflow/nn/losses.h"

#include <cmath>
#include <string>

#include "autograd/door.h"
#include "tapeflow/nn/functional.h"
#include "tapeflow/ops/array.h"
#include "tapeflow/ops/elementwise.h"
#include "tapeflow/ops/reduce.h"

namespace tapeflow {
namespace {

/// Whether two shapes can be equal: the same rank, and each pair of dimensions equal or one of
/// them unknown (graph mode).
bool compatible(const Shape& a, const Shape& b) {
  if (a.rank() != b.rank()) return false;
  for (int i = 0; i < a.rank(); ++i)
    if (a[i] != b[i] && a[i] >= 0 && b[i] >= 0) return false;
  return true;
}

void check_defined(const char* loss, const char* name, const Tensor& t) {
  if (!t.defined()) throw ValueError(fmt::format("{}: {} must not be an undefined tensor", loss, name));
}

void check_floating(const char* loss, const char* name, const Tensor& t) {
  check_defined(loss, name, t);
  if (!is_floating(t.dtype()))
    throw DTypeError(fmt::format("{}: {} must be float32 or float64, got {} {}; cast them first (cast({}, float32))",
                                 loss, name, dtype_name(t.dtype()), t.shape().str(), name));
}

/// `s` without its last dimension.
Shape drop_last(const Shape& s) { return Shape(std::span<const std::int64_t>(s.begin(), s.end() - 1)); }

/// ShapeError unless a and b can have the same shape. The message suggests a reshape when they
/// differ by a last dimension of 1 ([n] against [n,1], a common slip), or `hint` when it is given.
void check_same_shape(const char* loss, const char* a_name, const Tensor& a, const char* b_name, const Tensor& b,
                      const char* hint = nullptr) {
  if (compatible(a.shape(), b.shape())) return;
  std::string what_to_do = hint ? hint : "";
  auto one_more = [](const Shape& x, const Shape& y) {  // x is y with a last dimension of 1
    return x.rank() == y.rank() + 1 && x.dim(-1) == 1 && compatible(drop_last(x), y);
  };
  if (!hint && one_more(b.shape(), a.shape())) what_to_do = fmt::format("reshape the {} to {}", a_name, b.shape().str());
  if (!hint && one_more(a.shape(), b.shape())) what_to_do = fmt::format("reshape the {} to {}", b_name, a.shape().str());
  throw ShapeError(fmt::format("{}: {} {} and {} {} must have the same shape{}{}", loss, a_name, a.shape().str(), b_name,
                               b.shape().str(), what_to_do.empty() ? "" : "; ", what_to_do));
}

void check_classes(const char* loss, const char* name, const Tensor& t) {
  if (t.rank() < 1 || t.dim(-1) == 0)
    throw ShapeError(fmt::format("{}: {} must have rank >= 1 ([..., classes]) and at least one class, got {}", loss,
                                 name, t.shape().str()));
}

/// For the losses of (labels, predictions) of one shape: predictions float, labels defined and
/// converted to the predictions' dtype, shapes compatible. Returns the converted labels.
Tensor prepare_labels(const char* loss, const char* labels_name, const Tensor& labels, const char* predictions_name,
                      const Tensor& predictions) {
  check_defined(loss, labels_name, labels);
  check_floating(loss, predictions_name, predictions);
  check_same_shape(loss, labels_name, labels, predictions_name, predictions);
  return cast(labels, predictions.dtype());
}

void check_label_smoothing(const char* loss, double label_smoothing) {
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
    throw ValueError(fmt::format("{}: label_smoothing must be in [0, 1], got {}", loss, label_smoothing));
}

/// The softmax cross-entropies' checks: label_smoothing in range, labels defined, logits float
/// [..., classes].
void check_softmax_inputs(const char* loss, const char* labels_name, const Tensor& labels, const Tensor& logits,
                          double label_smoothing) {
  check_label_smoothing(loss, label_smoothing);
  check_defined(loss, labels_name, labels);
  check_floating(loss, "logits", logits);
  check_classes(loss, "logits", logits);
}

/// TensorFlow's rule for weights (weights_broadcast_ops.assert_broadcastable): a scalar, or the
/// losses' rank with each dimension 1 or equal to the losses'. Unknown dimensions pass.
void check_weights(const char* loss, const Tensor& w, const Tensor& losses) {
  auto fits = [&](const Shape& s) {
    if (s.rank() == 0) return true;
    if (s.rank() != losses.rank()) return false;
    for (int i = 0; i < s.rank(); ++i)
      if (s[i] != 1 && s[i] != losses.dim(i) && s[i] >= 0 && losses.dim(i) >= 0) return false;
    return true;
  };
  if (fits(w.shape())) return;
  std::string hint;
  if (w.rank() < losses.rank()) {  // weights [batch] against losses [batch,1]: trailing 1s make it fit
    Shape padded = w.shape();
    while (padded.rank() < losses.rank()) padded.push_back(1);
    if (fits(padded)) hint = fmt::format("; reshape the weights to {}", padded.str());
  }
  throw ShapeError(fmt::format("{}: weights {} cannot be broadcast to the losses {}: weights must be a scalar or have "
                               "the losses' rank {} with each dimension 1 or equal to the losses'{}",
                               loss, w.shape().str(), losses.shape().str(), losses.rank(), hint));
}

/// tf.ones_like as an op ("OnesLike"), so that graph tensors of unknown dimensions get ones of
/// their run-time shape. Not differentiable: its value does not depend on x's.
Tensor ones_like_op(const Tensor& x) {
  return autograd::apply({.type = "OnesLike", .name = "ones_like", .t = autograd::DTypes::Any, .signature = "a",
                          .input_names = "x", .node = "ones_like"},
                         {x}, {},
                         [](autograd::Args in) { return OutputSpec{in[0].shape(), in[0].dtype()}; },
                         [](autograd::Args in, const OutputSpec&) { return ones(in[0].shape(), in[0].dtype()); });
}

/// tf.math.div_no_nan of scalars: num / den, and 0 where den is 0.
Tensor div_no_nan(const Tensor& num, const Tensor& den) {
  const Tensor zero = scalar(0.0, den.dtype());
  const Tensor is_zero = equal(den, zero);
  return where(is_zero, zero, num / where(is_zero, scalar(1.0, den.dtype()), den));
}

/// compute_weighted_loss for the loss named `loss` (its messages name it).
Tensor weighted_loss(const char* loss, const Tensor& losses, const losses::Weights& weights,
                     losses::Reduction reduction) {
  using losses::Reduction;
  const DType dt = losses.dtype();
  Tensor w;  // undefined: the number weights.value()
  if (weights.tensor().defined()) {
    check_weights(loss, weights.tensor(), losses);
    w = cast(weights.tensor(), dt);
  }
  if (reduction < Reduction::NONE || reduction > Reduction::SUM_BY_NONZERO_WEIGHTS)
    throw ValueError(fmt::format("{}: invalid reduction {}; use one of losses::Reduction's values", loss,
                                 static_cast<int>(reduction)));
  const double value = weights.value();
  const Tensor weighted = w.defined() ? losses * w : value == 1.0 ? losses : losses * value;
  if (reduction == Reduction::NONE) return weighted;
  const Tensor total = reduce_sum(weighted);
  if (reduction == Reduction::SUM) return total;
  // The denominator as TensorFlow's: what each element of the losses counts for (its weight, 1,
  // or whether its weight is nonzero; ones_like(losses) * w broadcasts w), summed.
  const Tensor ones = ones_like_op(losses);
  Tensor counts = ones;  // SUM_OVER_BATCH_SIZE
  if (reduction == Reduction::MEAN) counts = w.defined() ? ones * w : ones * value;
  else if (reduction == Reduction::SUM_BY_NONZERO_WEIGHTS)
    counts = w.defined() ? ones * cast(not_equal(w, scalar(0.0, dt)), dt) : value != 0.0 ? ones : ones * 0.0;
  return div_no_nan(total, reduce_sum(counts));
}

}  // namespace

// ---------------------------------------------------------------------------- tf.nn

Tensor nn::sigmoid_cross_entropy_with_logits(const Tensor& labels, const Tensor& logits) {
  static constexpr const char* op = "sigmoid_cross_entropy_with_logits";
  check_defined(op, "labels", labels);
  check_floating(op, "logits", logits);
  if (labels.dtype() != logits.dtype())
    throw DTypeError(fmt::format("{}: labels are {} but logits are {}; cast the labels (cast(labels, {}))", op,
                                 dtype_name(labels.dtype()), dtype_name(logits.dtype()), dtype_name(logits.dtype())));
  check_same_shape(op, "labels", labels, "logits", logits);
  // max(x, 0) - x z + log(1 + exp(-|x|)), with TensorFlow's selects: at x = 0 both take the x >= 0
  // branch, so the gradient there is 1 - z - 1/2 (relu and abs would give -z).
  const Tensor zero = scalar(0.0, logits.dtype());
  const Tensor cond = greater_equal(logits, zero);
  const Tensor relu_logits = where(cond, logits, zero);
  const Tensor neg_abs_logits = where(cond, neg(logits), logits);
  return relu_logits - logits * labels + softplus(neg_abs_logits);  // softplus(-|x|) = log1p(exp(-|x|))
}

// ---------------------------------------------------------------------------- tf.losses

namespace losses {

const char* reduction_name(Reduction reduction) {
  switch (reduction) {
    case Reduction::NONE: return "none";
    case Reduction::SUM: return "weighted_sum";
    case Reduction::MEAN: return "weighted_mean";
    case Reduction::SUM_OVER_BATCH_SIZE: return "weighted_sum_over_batch_size";
    case Reduction::SUM_BY_NONZERO_WEIGHTS: return "weighted_sum_by_nonzero_weights";
  }
  throw ValueError(fmt::format("reduction_name: invalid reduction {}", static_cast<int>(reduction)));
}

Tensor compute_weighted_loss(const Tensor& losses, const Weights& weights, Reduction reduction) {
  check_floating("compute_weighted_loss", "losses", losses);
  return weighted_loss("compute_weighted_loss", losses, weights, reduction);
}

Tensor mean_squared_error(const Tensor& labels, const Tensor& predictions, const Weights& weights,
                          Reduction reduction) {
  static constexpr const char* op = "mean_squared_error";
  const Tensor y = prepare_labels(op, "labels", labels, "predictions", predictions);
  return weighted_loss(op, square(predictions - y), weights, reduction);
}

Tensor absolute_difference(const Tensor& labels, const Tensor& predictions, const Weights& weights,
                           Reduction reduction) {
  static constexpr const char* op = "absolute_difference";
  const Tensor y = prepare_labels(op, "labels", labels, "predictions", predictions);
  return weighted_loss(op, abs(predictions - y), weights, reduction);
}

Tensor huber_loss(const Tensor& labels, const Tensor& predictions, const Weights& weights, double delta,
                  Reduction reduction) {
  static constexpr const char* op = "huber_loss";
  if (!(delta > 0.0) || !std::isfinite(delta))
    throw ValueError(fmt::format("{}: delta must be a finite number > 0, got {}", op, delta));
  const Tensor y = prepare_labels(op, "labels", labels, "predictions", predictions);
  const Tensor abs_error = abs(predictions - y);
  // min(|e|, delta) and |e| - min(|e|, delta), as TensorFlow: at |e| == delta the linear part's
  // gradient is 0 (maximum(|e| - delta, 0) would add a second 1 to the quadratic part's).
  const Tensor quadratic = minimum(abs_error, scalar(delta, predictions.dtype()));
  const Tensor linear = abs_error - quadratic;
  return weighted_loss(op, quadratic * quadratic * 0.5 + linear * delta, weights, reduction);
}

Tensor log_loss(const Tensor& labels, const Tensor& predictions, const Weights& weights, double epsilon,
                Reduction reduction) {
  static constexpr const char* op = "log_loss";
  if (!(epsilon >= 0.0) || !std::isfinite(epsilon))
    throw ValueError(fmt::format("{}: epsilon must be a finite number >= 0, got {}", op, epsilon));
  const Tensor y = prepare_labels(op, "labels", labels, "predictions", predictions);
  const Tensor losses = neg(y * log(predictions + epsilon)) - (1.0 - y) * log(1.0 - predictions + epsilon);
  return weighted_loss(op, losses, weights, reduction);
}

Tensor sigmoid_cross_entropy(const Tensor& multi_class_labels, const Tensor& logits, const Weights& weights,
                             double label_smoothing, Reduction reduction) {
  static constexpr const char* op = "sigmoid_cross_entropy";
  check_label_smoothing(op, label_smoothing);
  Tensor y = prepare_labels(op, "multi_class_labels", multi_class_labels, "logits", logits);
  if (label_smoothing > 0) y = y * (1.0 - label_smoothing) + 0.5 * label_smoothing;
  return weighted_loss(op, nn::sigmoid_cross_entropy_with_logits(y, logits), weights, reduction);
}

Tensor softmax_cross_entropy(const Tensor& onehot_labels, const Tensor& logits, const Weights& weights,
                             double label_smoothing, Reduction reduction) {
  static constexpr const char* op = "softmax_cross_entropy";
  check_softmax_inputs(op, "onehot_labels", onehot_labels, logits, label_smoothing);
  const bool class_ids = onehot_labels.rank() + 1 == logits.rank() && !is_floating(onehot_labels.dtype());
  check_same_shape(op, "onehot_labels", onehot_labels, "logits", logits,
                   class_ids ? "for class ids (one per example) use sparse_softmax_cross_entropy" : nullptr);
  Tensor y = cast(onehot_labels, logits.dtype());
  if (label_smoothing > 0) {
    const std::int64_t classes = logits.dim(-1) >= 0 ? logits.dim(-1) : y.dim(-1);
    if (classes < 0)
      throw ShapeError(fmt::format("{}: label_smoothing divides by the number of classes, but logits {} and "
                                   "onehot_labels {} do not say it (their last dimension is unknown); give the "
                                   "placeholder a known number of classes",
                                   op, logits.shape().str(), y.shape().str()));
    y = y * (1.0 - label_smoothing) + label_smoothing / static_cast<double>(classes);
  }
  return weighted_loss(op, nn::softmax_cross_entropy_with_logits(stop_gradient(y), logits), weights, reduction);
}

Tensor sparse_softmax_cross_entropy(const Tensor& labels, const Tensor& logits, const Weights& weights,
                                    double label_smoothing, Reduction reduction) {
  static constexpr const char* op = "sparse_softmax_cross_entropy";
  check_softmax_inputs(op, "labels", labels, logits, label_smoothing);
  if (labels.dtype() != int32 && labels.dtype() != int64)
    throw DTypeError(fmt::format("{}: labels must be int32 or int64 class ids, got {} {}; for labels that are "
                                 "probabilities over the classes use softmax_cross_entropy",
                                 op, dtype_name(labels.dtype()), labels.shape().str()));
  // TensorFlow's _remove_squeezable_dimensions: labels [..., 1] against logits [..., classes].
  Tensor ids = labels;
  if (ids.rank() == logits.rank() && ids.dim(-1) == 1) ids = squeeze(ids, {-1});
  const Shape expected = drop_last(logits.shape());
  if (!compatible(ids.shape(), expected))
    throw ShapeError(fmt::format("{}: labels {} must have the shape of logits {} without its last dimension ({}), or "
                                 "that shape with a last dimension of 1",
                                 op, labels.shape().str(), logits.shape().str(), expected.str()));
  Weights w = weights;
  if (const Tensor& t = weights.tensor(); t.defined() && t.rank() == ids.rank() + 1 && t.dim(-1) == 1)
    w = squeeze(t, {-1});
  Tensor losses = nn::sparse_softmax_cross_entropy_with_logits(ids, logits);
  // With smoothed labels (1 - ls) one_hot + ls / classes, the cross-entropy is linear in them:
  // (1 - ls) (-log p[label]) + ls mean(-log p). No one-hot tensor, and the label range stays checked.
  if (label_smoothing > 0)
    losses = losses * (1.0 - label_smoothing) + reduce_mean(neg(nn::log_softmax(logits)), {-1}) * label_smoothing;
  return weighted_loss(op, losses, w, reduction);
}

Tensor kl_divergence(const Tensor& labels, const Tensor& predictions, const Weights& weights, double epsilon,
                     Reduction reduction) {
  static constexpr const char* op = "kl_divergence";
  if (!(epsilon > 0.0 && epsilon < 1.0))
    throw ValueError(fmt::format("{}: epsilon must be in (0, 1), got {}", op, epsilon));
  const Tensor y = prepare_labels(op, "labels", labels, "predictions", predictions);
  check_classes(op, "predictions", predictions);
  const Tensor p = clip(predictions, epsilon, 1.0), q = clip(y, epsilon, 1.0);
  return weighted_loss(op, reduce_sum(q * log(q / p), {-1}), weights, reduction);
}

}  // namespace losses
}  // namespace tapeflow
