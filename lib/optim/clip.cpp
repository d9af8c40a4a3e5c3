#include "tapeflow/optim/clip.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "ops/kernels.h"
#include "tapeflow/autograd.h"
#include "tapeflow/ops/elementwise.h"
#include "tapeflow/ops/reduce.h"

namespace tapeflow::optim {

namespace kd = tapeflow::detail;

namespace {

void check_floating(const char* op, const char* what, std::size_t index, const Tensor& t) {
  if (!is_floating(t.dtype()))
    throw DTypeError(fmt::format("{}: {} {} is {} {}; only float32/float64 tensors have a norm to clip", op, what,
                                 index, dtype_name(t.dtype()), t.shape().str()));
}

double sum_of_squares(const Tensor& t) {
  return kd::visit_floating("global_norm", t, [&]<class T>() {
    return kd::amap<T>(t).template cast<double>().square().sum();
  });
}

}  // namespace

double global_norm(const std::vector<Tensor>& t_list) {
  double total = 0.0;
  for (std::size_t i = 0; i < t_list.size(); ++i) {
    if (!t_list[i].defined()) continue;
    check_floating("global_norm", "tensor", i, t_list[i]);
    total += sum_of_squares(t_list[i]);
  }
  return std::sqrt(total);
}

std::pair<std::vector<Tensor>, double> clip_by_global_norm(const std::vector<Tensor>& t_list, double clip_norm) {
  if (!(clip_norm > 0.0))
    throw ValueError(fmt::format("clip_by_global_norm: invalid clip_norm: {} (must be > 0)", clip_norm));
  const double norm = global_norm(t_list);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<Tensor> clipped(t_list.size());

  bool differentiable = false;
  if (autograd::is_grad_enabled())
    for (const Tensor& t : t_list) differentiable = differentiable || (t.defined() && t.requires_grad());

  if (!differentiable) {
    // scale = clip_norm / max(norm, clip_norm); NaN when the norm is not finite (as TF).
    const double scale = std::isfinite(norm) ? clip_norm / std::max(norm, clip_norm) : nan;
    for (std::size_t i = 0; i < t_list.size(); ++i)
      if (t_list[i].defined()) clipped[i] = t_list[i] * scale;
    return {std::move(clipped), norm};
  }

  // The same computation on the tape, so that gradients flow through the norm as well.
  Tensor sum_sq;  // float64 []
  for (const Tensor& t : t_list) {
    if (!t.defined()) continue;
    Tensor s = reduce_sum(square(t.dtype() == float64 ? t : cast(t, float64)));
    sum_sq = sum_sq.defined() ? sum_sq + s : s;
  }
  Tensor norm_t = sqrt(sum_sq);
  Tensor scale = std::isfinite(norm) ? clip_norm / maximum(norm_t, scalar(clip_norm, float64)) : scalar(nan, float64);
  for (std::size_t i = 0; i < t_list.size(); ++i) {
    const Tensor& t = t_list[i];
    if (t.defined()) clipped[i] = t * (t.dtype() == float64 ? scale : cast(scale, t.dtype()));
  }
  return {std::move(clipped), norm};
}

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm) {
  if (!(max_norm > 0.0))
    throw ValueError(fmt::format("clip_grad_norm_: invalid max_norm: {} (must be > 0)", max_norm));
  std::vector<Tensor> grads;
  grads.reserve(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (!params[i].defined())
      throw ValueError(fmt::format("clip_grad_norm_: parameter {} is an undefined tensor", i));
    Tensor g = params[i].grad();
    if (!g.defined()) continue;
    check_floating("clip_grad_norm_", "the gradient of parameter", i, g);
    grads.push_back(g);
  }
  const double norm = global_norm(grads);
  const double coef = max_norm / (norm + 1e-6);
  if (!(coef >= 1.0))  // also scales (to NaN) when the norm is NaN, as torch
    for (Tensor& g : grads) scale_(g, coef);
  return norm;
}

}  // namespace tapeflow::optim
