// Dropout (TensorFlow 1.x scaling, seedable mask) and flatten.
#include "tapeflow/nn/dropout.h"

#include <cmath>

#include "ops/kernels.h"
#include "tapeflow/ops/array.h"

namespace tapeflow::nn {
namespace {

/// out = keep[i] ? v[i] / keep_prob : 0, same shape and dtype as v.
Tensor apply_mask(const char* op, const Tensor& v, const Tensor& keep, double keep_prob) {
  return detail::visit_floating(op, v, [&]<class T>() {
    Tensor out = Tensor::empty(v.shape(), v.dtype());
    const T* pv = v.data<T>();
    const std::uint8_t* pk = keep.data<std::uint8_t>();
    T* po = out.data<T>();
    const T kp = static_cast<T>(keep_prob);
    detail::parallel_chunks(v.numel(), [&](std::int64_t b, std::int64_t n) {
      for (std::int64_t i = b; i < b + n; ++i) po[i] = pk[i] ? pv[i] / kp : T(0);
    });
    return out;
  });
}

}  // namespace

Tensor dropout(const Tensor& x, double keep_prob, Generator* gen) {
  detail::check_defined("dropout", x);
  if (!(keep_prob > 0.0 && keep_prob <= 1.0))
    throw ValueError(fmt::format("dropout: keep_prob must be in (0, 1], got {}; it is the probability of keeping "
                                 "an element (TensorFlow 1.x), not of dropping it",
                                 keep_prob));
  detail::visit_floating("dropout", x, []<class T>() {});
  if (keep_prob == 1.0) return x;
  // As TensorFlow: keep where floor(keep_prob + u) == 1, u uniform in [0, 1). u takes the top 53
  // bits of one 64-bit draw, so a seed gives the same mask on every platform.
  Tensor keep = Tensor::empty(x.shape(), uint8);
  auto& engine = (gen ? *gen : default_generator()).engine();
  std::uint8_t* pk = keep.data<std::uint8_t>();
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const double u = static_cast<double>(engine() >> 11) * 0x1.0p-53;
    pk[i] = keep_prob + u >= 1.0;
  }
  Tensor y = apply_mask("dropout", x, keep, keep_prob);
  return autograd::record(y, {x}, "Dropout", [keep, keep_prob](const Tensor& g) {
    return Grads{apply_mask("DropoutGrad", g, keep, keep_prob)};  // dx = g * mask / keep_prob
  });
}

Tensor flatten(const Tensor& x) {
  detail::check_defined("flatten", x);
  if (x.rank() < 1)
    throw ShapeError(fmt::format("flatten: input must have a batch dimension ([batch, ...]), got the scalar shape {}",
                                 x.shape().str()));
  std::int64_t rest = 1;
  for (int i = 1; i < x.rank(); ++i) rest *= x.dim(i);
  return reshape(x, Shape{x.dim(0), rest});
}

}  // namespace tapeflow::nn
