// Dropout (TensorFlow 1.x scaling, seedable mask) and flatten.
#include "tapeflow/nn/dropout.h"

#include <cmath>

#include "core/symbolic.h"
#include "ops/kernels.h"
#include "tapeflow/ops/array.h"
#include "tapeflow/ops/elementwise.h"
#include "tapeflow/ops/reduce.h"

namespace tapeflow::nn {
namespace {

/// out = v / keep_prob * keep (TensorFlow's formula, keep 0 or 1), same shape and dtype as v.
Tensor apply_mask(const char* op, const Tensor& v, const Tensor& keep, double keep_prob) {
  return detail::visit_floating(op, v, [&]<class T>() {
    Tensor out = Tensor::empty(v.shape(), v.dtype());
    const T* pv = v.data<T>();
    const std::uint8_t* pk = keep.data<std::uint8_t>();
    T* po = out.data<T>();
    const T kp = static_cast<T>(keep_prob);
    detail::parallel_chunks(v.numel(), [&](std::int64_t b, std::int64_t n) {
      for (std::int64_t i = b; i < b + n; ++i) po[i] = pv[i] / kp * static_cast<T>(pk[i]);
    });
    return out;
  });
}

void check_keep_prob(double keep_prob) {
  if (!(keep_prob > 0.0 && keep_prob <= 1.0))
    throw ValueError(fmt::format("dropout: keep_prob must be in (0, 1], got {}; it is the probability of keeping "
                                 "an element (TensorFlow 1.x), not of dropping it",
                                 keep_prob));
}

/// dropout of a concrete x with keep_prob in (0, 1]. `keep_prob_tensor` is the Tensor overload's
/// scalar (undefined for the double overload); it gets a gradient too:
///   y = x * mask / keep_prob  =>  d_keep_prob = -sum(g * y) / keep_prob.
Tensor dropout_concrete(const Tensor& x, double keep_prob, const Tensor& keep_prob_tensor, Generator* gen) {
  const bool need_keep_prob =
      keep_prob_tensor.defined() && keep_prob_tensor.requires_grad() && autograd::is_grad_enabled();
  if (keep_prob == 1.0 && !need_keep_prob) return x;
  // keep_prob == 1 keeps everything and draws nothing: no mask (y shares x's data).
  Tensor keep, y;
  if (keep_prob < 1.0) {
    // As TensorFlow: keep where floor(keep_prob + u) == 1, u uniform in [0, 1). u takes the top 53
    // bits of one 64-bit draw, so a seed gives the same mask on every platform.
    keep = Tensor::empty(x.shape(), uint8);
    auto& engine = (gen ? *gen : default_generator()).engine();
    std::uint8_t* pk = keep.data<std::uint8_t>();
    for (std::int64_t i = 0, n = x.numel(); i < n; ++i) {
      const double u = static_cast<double>(engine() >> 11) * 0x1.0p-53;
      pk[i] = keep_prob + u >= 1.0;
    }
    y = apply_mask("dropout", x, keep, keep_prob);
  } else {
    y = x.detach();
  }
  return autograd::record(y, {x, keep_prob_tensor}, "Dropout",
                          [keep, keep_prob, need_x = x.requires_grad(),
                           y_value = need_keep_prob ? y.detach() : Tensor()](const Tensor& g) {
    Tensor dx, d_keep_prob;
    if (need_x) dx = keep.defined() ? apply_mask("DropoutGrad", g, keep, keep_prob) : g;  // g * mask / keep_prob
    if (y_value.defined()) d_keep_prob = reduce_sum(g * y_value) * (-1.0 / keep_prob);
    return Grads{dx, d_keep_prob};
  });
}

}  // namespace

Tensor dropout(const Tensor& x, double keep_prob, Generator* gen) {
  detail::check_defined("dropout", x);
  check_keep_prob(keep_prob);
  detail::visit_floating("dropout", x, []<class T>() {});
  if (keep_prob == 1.0) return x;
  if (detail::any_symbolic(x))
    return detail::graph_op("Dropout", {x}, x.shape(), x.dtype(),
                            [keep_prob, gen](detail::Args in) { return dropout(in[0], keep_prob, gen); });
  return dropout_concrete(x, keep_prob, Tensor(), gen);
}

Tensor dropout(const Tensor& x, const Tensor& keep_prob, Generator* gen) {
  detail::check_defined("dropout", x);
  detail::check_defined("dropout", keep_prob);
  detail::visit_floating("dropout", x, []<class T>() {});
  if (keep_prob.rank() != 0)
    throw ShapeError(fmt::format("dropout: keep_prob must be a scalar tensor [] (e.g. placeholder(float32, {{}})), "
                                 "got shape {}",
                                 keep_prob.shape().str()));
  if (keep_prob.dtype() != x.dtype())
    throw DTypeError(fmt::format("dropout: keep_prob is {} {} but x is {} {}; keep_prob must have x's dtype",
                                 dtype_name(keep_prob.dtype()), keep_prob.shape().str(), dtype_name(x.dtype()),
                                 x.shape().str()));
  if (!detail::is_symbolic(keep_prob)) check_keep_prob(keep_prob.item<double>());
  if (detail::any_symbolic(x, keep_prob))  // a fed keep_prob is checked when the node runs
    return detail::graph_op("Dropout", {x, keep_prob}, x.shape(), x.dtype(),
                            [gen](detail::Args in) { return dropout(in[0], in[1], gen); });
  return dropout_concrete(x, keep_prob.item<double>(), keep_prob, gen);
}

Tensor flatten(const Tensor& x) {
  detail::check_defined("flatten", x);
  if (x.rank() < 1)
    throw ShapeError(fmt::format("flatten: input must have a batch dimension ([batch, ...]), got the scalar shape {}",
                                 x.shape().str()));
  std::int64_t rest = 1;
  for (int i = 1; i < x.rank(); ++i) rest = rest < 0 || x.dim(i) < 0 ? -1 : rest * x.dim(i);
  if (detail::any_symbolic(x))  // tf.layers.flatten's Reshape node; an unknown dimension makes rest unknown
    return detail::graph_op("Reshape", {x}, Shape{x.dim(0), rest}, x.dtype(),
                            [](detail::Args in) { return flatten(in[0]); });
  return reshape(x, Shape{x.dim(0), rest});
}

}  // namespace tapeflow::nn
