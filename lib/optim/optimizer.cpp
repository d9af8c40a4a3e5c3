#include "tapeflow/optim/optimizer.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ops/kernels.h"
#include "optim/checks.h"
#include "tapeflow/autograd.h"

namespace tapeflow::optim {

namespace {

/// "parameter 1" or "parameter 1 'fc/weight'" for messages.
std::string param_label(std::size_t index, const Tensor& p) {
  const std::string& name = p.impl()->name;
  return name.empty() ? fmt::format("parameter {}", index) : fmt::format("parameter {} '{}'", index, name);
}

/// "parameter 1 'fc/weight' (float32 [2,3])" for messages.
std::string describe_param(std::size_t index, const Tensor& p) {
  return fmt::format("{} ({} {})", param_label(index, p), dtype_name(p.dtype()), p.shape().str());
}

/// "float32 [2,3]" for messages.
std::string describe(const Tensor& t) { return fmt::format("{} {}", dtype_name(t.dtype()), t.shape().str()); }

Tensor int64_scalar(std::int64_t value) { return from_vector(std::vector<std::int64_t>{value}, Shape{}); }

}  // namespace

Optimizer::Optimizer(std::vector<Tensor> params, std::string name, double lr)
    : params_(std::move(params)), name_(std::move(name)), lr_(lr) {
  detail::check_lr(name_, lr);
  if (params_.empty())
    throw ValueError(fmt::format("{}: got an empty parameter list; pass the tensors to train, e.g. "
                                 "net.parameters()",
                                 name_));
  std::unordered_map<const tapeflow::TensorImpl*, std::size_t> seen;
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

std::vector<Optimizer::StateField> Optimizer::state_fields(OptimizerState&) const { return {}; }

std::unique_ptr<OptimizerState> Optimizer::new_state() const { return nullptr; }

// ---------------------------------------------------------------------------- state dicts

NamedTensors Optimizer::state_dict() const {
  NamedTensors dict;
  dict.emplace_back("optimizer", from_vector(std::vector<std::uint8_t>(name_.begin(), name_.end())));
  dict.emplace_back("num_parameters", int64_scalar(static_cast<std::int64_t>(params_.size())));
  dict.emplace_back("lr", scalar(lr_, float64));
  for (std::size_t i = 0; i < states_.size(); ++i) {
    if (!states_[i]) continue;
    const std::vector<StateField> fields = state_fields(*states_[i]);
    if (fields.empty())
      throw ValueError(fmt::format("{}.state_dict: {} has a state, but {} does not say what it holds; override "
                                   "state_fields() and new_state()",
                                   name_, describe_param(i, params_[i]), name_));
    for (const StateField& field : fields) {
      const std::string key = fmt::format("state/{}/{}", i, field.name);
      if (field.count)
        dict.emplace_back(key, int64_scalar(*field.count));
      else if (field.slot->defined())
        dict.emplace_back(key, field.slot->clone());
    }
  }
  return dict;
}

void Optimizer::load_state_dict(const NamedTensors& state) {
  const std::string who = fmt::format("{}.load_state_dict", name_);
  std::map<std::string, Tensor> entries;
  for (const auto& [key, value] : state) {
    if (!value.defined()) throw ValueError(fmt::format("{}: entry '{}' is an undefined tensor", who, key));
    if (value.is_symbolic())
      throw ValueError(fmt::format("{}: entry '{}' is a graph tensor; pass eager tensors (io::load's)", who, key));
    if (!entries.emplace(key, value).second)
      throw ValueError(fmt::format("{}: entry '{}' appears twice; a state dict names each entry once", who, key));
  }
  // Entries looked up, and those that were not there.
  std::set<std::string> used;
  std::vector<std::string> missing;
  auto find = [&](const std::string& key) -> const Tensor* {
    auto it = entries.find(key);
    if (it == entries.end()) {
      missing.push_back(key);
      return nullptr;
    }
    used.insert(key);
    return &it->second;
  };
  auto check_scalar = [&](const std::string& key, const Tensor& t, DType dtype) {
    if (t.dtype() != dtype)
      throw DTypeError(fmt::format("{}: entry '{}' is {}, expected {} [] (as state_dict() writes it)", who, key,
                                   describe(t), dtype_name(dtype)));
    if (t.rank() != 0)
      throw ShapeError(fmt::format("{}: entry '{}' is {}, expected a scalar, {} [] (as state_dict() writes it)", who,
                                   key, describe(t), dtype_name(dtype)));
  };

  // The optimizer type and the parameter count first: a dict of another optimizer fails there
  // rather than on its entries.
  if (const Tensor* t = find("optimizer")) {
    if (t->dtype() != uint8 || t->rank() != 1)
      throw DTypeError(fmt::format("{}: entry 'optimizer' is {}, expected uint8 [n] (the optimizer's name in ASCII, "
                                   "as state_dict() writes it)",
                                   who, describe(*t)));
    const std::vector<std::uint8_t> bytes = t->to_vector<std::uint8_t>();
    const std::string type(bytes.begin(), bytes.end());
    if (type != name_)
      throw ValueError(fmt::format("{}: the state dict is of optimizer type {} (entry 'optimizer'), this optimizer is "
                                   "{}; load it into an optimizer of type {} built with the same options over the "
                                   "same parameters",
                                   who, type, name_, type));
  }
  if (const Tensor* t = find("num_parameters")) {
    check_scalar("num_parameters", *t, int64);
    const auto n = t->item<std::int64_t>();
    if (n != static_cast<std::int64_t>(params_.size()))
      throw ValueError(fmt::format("{}: the state dict is of {} parameters (entry 'num_parameters'), this optimizer "
                                   "has {}; build it over the same parameters, in the same order (e.g. "
                                   "net.parameters() of the same model)",
                                   who, n, params_.size()));
  }
  double new_lr = lr_;
  if (const Tensor* t = find("lr")) {
    check_scalar("lr", *t, float64);
    new_lr = t->item<double>();
    detail::check_lr(who + ": entry 'lr'", new_lr);
  }

  // Each parameter's state: all of its fields, or none (no state). Copies, so that the optimizer
  // never shares memory with the dict.
  std::vector<std::unique_ptr<OptimizerState>> loaded(params_.size());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    std::unique_ptr<OptimizerState> fresh = new_state();
    if (!fresh) continue;
    const std::vector<StateField> fields = state_fields(*fresh);
    const std::string prefix = fmt::format("state/{}/", i);
    if (std::none_of(fields.begin(), fields.end(),
                     [&](const StateField& f) { return entries.contains(prefix + f.name); }))
      continue;
    const Tensor& p = params_[i];
    for (const StateField& field : fields) {
      const std::string key = prefix + field.name;
      const Tensor* t = find(key);
      if (!t) continue;
      if (field.count) {
        check_scalar(key, *t, int64);
        *field.count = t->item<std::int64_t>();
        if (*field.count < 0)
          throw ValueError(fmt::format("{}: entry '{}' is {}; a count is >= 0", who, key, *field.count));
        continue;
      }
      if (t->dtype() != p.dtype())
        throw DTypeError(fmt::format("{}: entry '{}' is {}, expected {} {} like {}; the state dict is of other "
                                     "parameters: build the optimizer over the same parameters, in the same order",
                                     who, key, describe(*t), dtype_name(p.dtype()), p.shape().str(),
                                     param_label(i, p)));
      if (t->shape() != p.shape())
        throw ShapeError(fmt::format("{}: entry '{}' has shape {}, expected {} like {}; the state dict is of other "
                                     "parameters: build the optimizer over the same parameters, in the same order",
                                     who, key, t->shape().str(), p.shape().str(), describe_param(i, p)));
      *field.slot = t->clone();
    }
    loaded[i] = std::move(fresh);
  }

  std::vector<std::string> unexpected;
  for (const auto& [key, value] : state)
    if (!used.contains(key)) unexpected.push_back(key);
  if (!missing.empty() || !unexpected.empty())
    throw ValueError(fmt::format("{}: missing entries [{}], unexpected entries [{}]; pass the state_dict() of an "
                                 "optimizer of type {} built with the same options over the same parameters",
                                 who, fmt::join(missing, ", "), fmt::join(unexpected, ", "), name_));

  states_ = std::move(loaded);
  lr_ = new_lr;
}

namespace detail {

void check_lr(const std::string& who, double lr) { check_finite_non_negative(who, "learning rate", lr); }

void check_finite_non_negative(const std::string& who, const char* what, double value) {
  if (!(value >= 0.0) || !std::isfinite(value))
    throw ValueError(fmt::format("{}: invalid {}: {} (must be a finite number >= 0)", who, what, value));
}

void check_step(const std::string& who, const char* what, std::int64_t value) {
  if (value < 0) throw ValueError(fmt::format("{}: invalid {}: {} (must be >= 0)", who, what, value));
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

void begin_update(const char* op, const Tensor& var, const Tensor& grad) {
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
  var.bump_version();
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
  slot.bump_version();
}

}  // namespace detail

}  // namespace tapeflow::optim
