// L1 / L2 weight penalties over lists of parameters, and tf.contrib.layers-style regularizers.
#include "tapeflow/nn/regularizers.h"

#include "core/dispatch.h"
#include "tapeflow/ops/elementwise.h"
#include "tapeflow/ops/reduce.h"

namespace tapeflow::nn {
namespace {

void check_params(const char* op, const std::vector<Tensor>& params) {
  if (params.empty())
    throw ValueError(fmt::format("{}: no parameters to regularize; pass the weights, e.g. model.parameters()", op));
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Tensor& w = params[i];
    if (!w.defined()) throw ValueError(fmt::format("{}: parameter {} of {} is undefined", op, i, params.size()));
    if (!is_floating(w.dtype()))
      throw DTypeError(fmt::format("{}: parameter {} is {} {}; weights to regularize must be float32 or float64", op,
                                   i, dtype_name(w.dtype()), w.shape().str()));
    if (w.dtype() != params[0].dtype())
      throw DTypeError(fmt::format("{}: parameter {} is {} {} but parameter 0 is {} {}; all must have one dtype", op,
                                   i, dtype_name(w.dtype()), w.shape().str(), dtype_name(params[0].dtype()),
                                   params[0].shape().str()));
  }
}

void check_scale(const char* op, double scale) {
  if (!(scale >= 0.0))
    throw ValueError(fmt::format("{}: setting a scale less than 0 on a regularizer: {}; use a scale >= 0", op, scale));
}

/// term(params[0]) + term(params[1]) + ...
template <class Term>
Tensor sum_over(const std::vector<Tensor>& params, Term term) {
  Tensor total = term(params[0]);
  for (std::size_t i = 1; i < params.size(); ++i) total = total + term(params[i]);
  return total;
}

Tensor abs_sum(const Tensor& w) { return reduce_sum(abs(w)); }
Tensor half_square_sum(const Tensor& w) { return l2_loss(w); }  // tf.nn.l2_loss, from functional.h

/// scale_l1 * sum|w| + scale_l2 * sum(w^2)/2 for one weight, leaving out zero-scaled terms.
Tensor penalty(const Tensor& w, double scale_l1, double scale_l2) {
  if (scale_l1 == 0.0 && scale_l2 == 0.0) return scalar(0.0, w.dtype());
  if (scale_l2 == 0.0) return abs_sum(w) * scale_l1;
  if (scale_l1 == 0.0) return half_square_sum(w) * scale_l2;
  return abs_sum(w) * scale_l1 + half_square_sum(w) * scale_l2;
}

Regularizer make_regularizer(const char* op, double scale_l1, double scale_l2) {
  return [op, scale_l1, scale_l2](const Tensor& w) {
    check_params(op, {w});
    return penalty(w, scale_l1, scale_l2);
  };
}

}  // namespace

Tensor l1_loss(const std::vector<Tensor>& params) {
  check_params("l1_loss", params);
  return sum_over(params, abs_sum);
}

Tensor l2_loss(const std::vector<Tensor>& params) {
  check_params("l2_loss", params);
  return sum_over(params, half_square_sum);
}

Tensor l1_l2_regularization(const std::vector<Tensor>& params, double l1_scale, double l2_scale) {
  check_scale("l1_l2_regularization", l1_scale);
  check_scale("l1_l2_regularization", l2_scale);
  check_params("l1_l2_regularization", params);
  if (l1_scale == 0.0 && l2_scale == 0.0) return scalar(0.0, params[0].dtype());
  if (l2_scale == 0.0) return l1_loss(params) * l1_scale;
  if (l1_scale == 0.0) return l2_loss(params) * l2_scale;
  return l1_loss(params) * l1_scale + l2_loss(params) * l2_scale;
}

Regularizer l1_regularizer(double scale) {
  check_scale("l1_regularizer", scale);
  return make_regularizer("l1_regularizer", scale, 0.0);
}

Regularizer l2_regularizer(double scale) {
  check_scale("l2_regularizer", scale);
  return make_regularizer("l2_regularizer", 0.0, scale);
}

Regularizer l1_l2_regularizer(double scale_l1, double scale_l2) {
  check_scale("l1_l2_regularizer", scale_l1);
  check_scale("l1_l2_regularizer", scale_l2);
  return make_regularizer("l1_l2_regularizer", scale_l1, scale_l2);
}

Tensor apply_regularization(const Regularizer& regularizer, const std::vector<Tensor>& weights) {
  if (!regularizer) throw ValueError("apply_regularization: the regularizer is empty (a null std::function)");
  check_params("apply_regularization", weights);
  Tensor total;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    Tensor term = regularizer(weights[i]);
    if (!term.defined()) continue;  // a disabled regularizer (TensorFlow's None)
    if (term.numel() != 1)
      throw ShapeError(fmt::format("apply_regularization: the regularizer returned {} for weight {} {}; it must "
                                   "return a scalar penalty",
                                   term.shape().str(), i, weights[i].shape().str()));
    total = total.defined() ? total + term : term;
  }
  return total.defined() ? total : scalar(0.0, weights[0].dtype());
}

}  // namespace tapeflow::nn
