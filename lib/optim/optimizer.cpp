#include "tapeflow/optim/optimizer.h"

#include <cmath>
#include <unordered_map>

#include <fmt/format.h>

#include "ops/kernels.h"
#include "optim/checks.h"
#include "tapeflow/autograd.h"

namespace tapeflow::optim {

namespace {

/// "parameter 1 'fc/weight' (float32 [2,3])" for messages.
std::string describe_param(std::size_t index, const Tensor& p) {
  const std::string& name = p.impl()->name;
  std::string label = name.empty() ? fmt::format("parameter {}", index) : fmt::format("parameter {} '{}'", index, name);
  return fmt::format("{} ({} {})", label, dtype_name(p.dtype()), p.shape().str());
}

}  // namespace

Optimizer::Optimizer(std::vector<Tensor> params, std::string name, double lr)
    : params_(std::move(params)), name_(std::move(name)), lr_(lr) {
  detail::check_lr(name_, lr);
  if (params_.empty())
    throw ValueError(fmt::format("{}: got an empty parameter list; pass the tensors to train, e.g. "
                                 "net.parameters()",
                                 name_));
  std::unordered_map<const tapeflow::detail::TensorImpl*, std::size_t> seen;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    if (!p.defined())
      throw ValueError(fmt::format("{}: parameter {} is an undefined tensor; pass only defined tensors", name_, i));
    if (!is_floating(p.dtype()))
      throw DTypeError(fmt::format("{}: {} is not floating point; only float32/float64 tensors can be optimized",
                                   name_, describe_param(i, p)));
    if (!p.is_leaf())
      throw ValueError(fmt::format("{}: {} is not a leaf (it was computed by {}); an optimizer updates leaf "
                                   "tensors: pass the tensors it was computed from, or a detach()ed copy",
                                   name_, describe_param(i, p), p.grad_fn()->name));
    auto [it, inserted] = seen.emplace(p.impl().get(), i);
    if (!inserted)
      throw ValueError(fmt::format("{}: parameter {} is the same tensor as parameter {}; pass each tensor once",
                                   name_, i, it->second));
  }
  states_.resize(params_.size());
}

Optimizer::~Optimizer() = default;

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.set_grad(Tensor());
}

void Optimizer::step() {
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    if (g.dtype() != p.dtype())
      throw DTypeError(fmt::format("{}: the gradient of {} is {} {}; a gradient must have its parameter's dtype",
                                   name_, describe_param(i, p), dtype_name(g.dtype()), g.shape().str()));
    if (g.shape() != p.shape())
      throw ShapeError(fmt::format("{}: the gradient of {} has shape {}; a gradient must have its parameter's shape",
                                   name_, describe_param(i, p), g.shape().str()));
    update(i, p, g);
  }
}

void Optimizer::set_lr(double lr) {
  detail::check_lr(name_, lr);
  lr_ = lr;
}

const OptimizerState* Optimizer::state_at(std::size_t index) const {
  if (index >= states_.size())
    throw ValueError(fmt::format("{}: no parameter {}: the optimizer has {} parameters", name_, index,
                                 states_.size()));
  return states_[index].get();
}

namespace detail {

void check_lr(const std::string& who, double lr) {
  if (!(lr >= 0.0)) throw ValueError(fmt::format("{}: invalid learning rate: {} (must be >= 0)", who, lr));
}

void check_non_negative(const std::string& who, const char* what, double value) {
  if (!(value >= 0.0)) throw ValueError(fmt::format("{}: invalid {}: {} (must be >= 0)", who, what, value));
}

void check_unit_interval(const std::string& who, const char* what, double value) {
  if (!(value >= 0.0 && value < 1.0))
    throw ValueError(fmt::format("{}: invalid {}: {} (must be in [0, 1))", who, what, value));
}

void check_positive(const std::string& who, const char* what, double value) {
  if (!(value > 0.0)) throw ValueError(fmt::format("{}: invalid {}: {} (must be > 0)", who, what, value));
}

void check_update_args(const char* op, const Tensor& var, const Tensor& grad) {
  if (!var.defined()) throw ValueError(fmt::format("{}: the variable is an undefined tensor", op));
  if (!grad.defined())
    throw ValueError(fmt::format("{}: the gradient of the {} {} variable is an undefined tensor; skip variables "
                                 "without a gradient",
                                 op, dtype_name(var.dtype()), var.shape().str()));
  if (!is_floating(var.dtype()))
    throw DTypeError(fmt::format("{}: the variable is {} {}; only float32/float64 variables can be updated", op,
                                 dtype_name(var.dtype()), var.shape().str()));
  if (grad.dtype() != var.dtype())
    throw DTypeError(fmt::format("{}: the gradient is {} {} but the variable is {} {}; they must have one dtype",
                                 op, dtype_name(grad.dtype()), grad.shape().str(), dtype_name(var.dtype()),
                                 var.shape().str()));
  if (grad.shape() != var.shape())
    throw ShapeError(fmt::format("{}: the gradient has shape {} but the variable has shape {}; they must match", op,
                                 grad.shape().str(), var.shape().str()));
}

Tensor decayed_grad(const Tensor& var, const Tensor& grad, double weight_decay) {
  if (weight_decay == 0.0) return grad;
  Tensor out = Tensor::empty(var.shape(), var.dtype());
  tapeflow::detail::visit_floating("weight_decay", var, [&]<class T>() {
    tapeflow::detail::amap<T>(out) =
        tapeflow::detail::amap<T>(grad) + static_cast<T>(weight_decay) * tapeflow::detail::amap<T>(var);
  });
  return out;
}

void ensure_slot(const char* op, const char* slot_name, Tensor& slot, const Tensor& var, double value) {
  if (!slot.defined()) {
    slot = full(var.shape(), value, var.dtype());
    return;
  }
  if (slot.dtype() != var.dtype())
    throw DTypeError(fmt::format("{}: slot '{}' is {} {} but the variable is {} {}; use a fresh state for each "
                                 "variable",
                                 op, slot_name, dtype_name(slot.dtype()), slot.shape().str(),
                                 dtype_name(var.dtype()), var.shape().str()));
  if (slot.shape() != var.shape())
    throw ShapeError(fmt::format("{}: slot '{}' has shape {} but the variable has shape {}; use a fresh state for "
                                 "each variable",
                                 op, slot_name, slot.shape().str(), var.shape().str()));
}

}  // namespace detail

}  // namespace tapeflow::optim
