// Dropout (TensorFlow 1.x scaling, seedable mask) and flatten.
#include "tapeflow/nn/dropout.h"

#include <cmath>

#include "autograd/door.h"
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
// dropout's gradient: g * mask / keep_prob, an op of its own whose gradient is itself.
Tensor dropout_grad(const Tensor& g, const Tensor& keep, double keep_prob) {
  return autograd::apply({"DropoutGrad", "dropout_grad", autograd::DTypes::Floating, "Ta", "grad,mask"}, {g, keep},
                         {{"keep_prob", keep_prob}}, [](autograd::Args in) { return OutputSpec{in[0].shape(), in[0].dtype()}; },
                         [keep_prob](autograd::Args in, const OutputSpec&) {
                           return autograd::with_backward(apply_mask("DropoutGrad", in[0], in[1], keep_prob),
                                                          [keep = autograd::save(in[1]), keep_prob](const Tensor& gg) {
                                                            return Grads{dropout_grad(gg, *keep, keep_prob), Tensor()};
                                                          });
                         });
}

auto dropout_forward(const Tensor& x, double keep_prob, const Tensor& keep_prob_tensor, Generator* gen) {
  const bool need_keep_prob =
      keep_prob_tensor.defined() && keep_prob_tensor.requires_grad() && autograd::is_grad_enabled();
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
    y = need_keep_prob ? x.detach() : x;  // keep everything: x itself (unrecorded) unless keep_prob needs a gradient
  }
  return autograd::with_backward(y, [keep = autograd::save(keep), keep_prob, need_x = x.requires_grad(),
                                     y_value = need_keep_prob ? autograd::save_output(y) : autograd::SavedTensor(),
                                     kp = autograd::save(need_keep_prob ? keep_prob_tensor : Tensor())](const Tensor& g) {
    Tensor dx, d_keep_prob;
    // A keep_prob tensor that requires grad enters dx and d_keep_prob as a tensor while a
    // create_graph backward records (their derivatives with respect to it); else as a number.
    const bool kp_as_tensor = kp.defined() && autograd::is_grad_enabled();
    if (need_x) {
      if (!keep.defined()) dx = g;
      else if (kp_as_tensor) dx = g * cast(*keep, g.dtype()) / *kp;
      else dx = dropout_grad(g, *keep, keep_prob);  // g * mask / keep_prob
    }
    if (y_value.defined())
      d_keep_prob = kp_as_tensor ? neg(reduce_sum(g * autograd::saved_output(y_value)) / *kp)
                                 : reduce_sum(g * *y_value) * (-1.0 / keep_prob);
    return Grads{dx, d_keep_prob};
  });
}

}  // namespace

Tensor dropout(const Tensor& x, double keep_prob, Generator* gen) {
  if (keep_prob == 1.0 && x.defined()) return x;  // as tf.nn.dropout with a constant keep_prob of 1
  return autograd::apply({"Dropout", "dropout", autograd::DTypes::Floating, "Tt", "x,keep_prob"}, {x, Tensor()},
                         {{"keep_prob", keep_prob}},
                         [keep_prob](autograd::Args in) {
                           check_keep_prob(keep_prob);
                           return OutputSpec{in[0].shape(), in[0].dtype()};
                         },
                         [keep_prob, gen](autograd::Args in, const OutputSpec&) {
                           return dropout_forward(in[0], keep_prob, Tensor(), gen);
                         });
}

Tensor dropout(const Tensor& x, const Tensor& keep_prob, Generator* gen) {
  return autograd::apply({"Dropout", "dropout", autograd::DTypes::Floating, "T", "x,keep_prob"}, {x, keep_prob}, {},
                         [](autograd::Args in) {
                           if (in[1].rank() != 0)
                             throw ShapeError(fmt::format("dropout: keep_prob must be a scalar tensor [] (e.g. "
                                                          "placeholder(float32, {{}})), got shape {}",
                                                          in[1].shape().str()));
                           // A keep_prob with a value is checked now (a graph's fed one when it runs).
                           if (autograd::known_value(in[1])) check_keep_prob(in[1].item<double>());
                           return OutputSpec{in[0].shape(), in[0].dtype()};
                         },
                         [gen](autograd::Args in, const OutputSpec&) {
                           return dropout_forward(in[0], in[1].item<double>(), in[1], gen);
                         });
}

Tensor flatten(const Tensor& x) {
  // tf.layers.flatten: one Reshape node to [batch, rest] (rest unknown when a dimension is).
  return autograd::apply({"Reshape", "flatten", autograd::DTypes::Any}, {x}, {},
                         [](autograd::Args in) {
                           const Shape& s = in[0].shape();
                           if (s.rank() < 1)
                             throw ShapeError(fmt::format("flatten: input must have a batch dimension ([batch, "
                                                          "...]), got the scalar shape {}",
                                                          s.str()));
                           std::int64_t rest = 1;
                           for (int i = 1; i < s.rank(); ++i) rest = rest < 0 || s[i] < 0 ? -1 : rest * s[i];
                           return OutputSpec{Shape{s[0], rest}, in[0].dtype()};
                         },
                         [](autograd::Args in, const OutputSpec& s) { return reshape(in[0], s.shape); });
}

}  // namespace tapeflow::nn
