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

Optimizer::Optimizer(std::vector<ParamGroup> groups, std::string name, double lr, double weight_decay)
    : name_(std::move(name)) {
  detail::check_lr(name_, lr);
  detail::check_non_negative(name_, "weight_decay", weight_decay);
  if (groups.empty())
    throw ValueError(fmt::format("{}: got no parameter groups; pass at least one, e.g. {{{{.params = "
                                 "net.parameters()}}}}",
                                 name_));
  const bool several = groups.size() > 1;
  std::unordered_map<const tapeflow::TensorImpl*, std::size_t> seen;  // parameter index by tensor
  for (std::size_t g = 0; g < groups.size(); ++g) {
    ParamGroup& group = groups[g];
    // With several groups, every message names the group.
    const std::string who = several ? fmt::format("{}: parameter group {}", name_, g) : name_;
    if (group.params.empty()) {
      if (!several)
        throw ValueError(fmt::format("{}: got an empty parameter list; pass the tensors to train, e.g. "
                                     "net.parameters()",
                                     name_));
      throw ValueError(fmt::format("{} is empty; a group needs at least one parameter: give it its parameters or "
                                   "drop it",
                                   who));
    }
    if (group.lr) detail::check_lr(who, *group.lr);
    if (group.weight_decay) detail::check_non_negative(who, "weight_decay", *group.weight_decay);
    Group held{.indices = {}, .lr = group.lr.value_or(lr), .weight_decay = group.weight_decay.value_or(weight_decay)};
    for (Tensor& p : group.params) {
      const std::size_t i = params_.size();
      if (!p.defined())
        throw ValueError(fmt::format("{}: parameter {} is an undefined tensor; pass only defined tensors", who, i));
      if (!is_floating(p.dtype()))
        throw DTypeError(fmt::format("{}: {} is not floating point; only float32/float64 tensors can be optimized",
                                     who, describe_param(i, p)));
      if (!p.is_leaf())
        throw ValueError(fmt::format("{}: {} is not a leaf (it was computed by {}); an optimizer updates leaf "
                                     "tensors: pass the tensors it was computed from, or a detach()ed copy",
                                     who, describe_param(i, p), p.grad_fn()->name));
      auto [it, inserted] = seen.emplace(p.impl().get(), i);
      if (!inserted) {
        const std::size_t other = group_of_[it->second];
        if (other == g)
          throw ValueError(fmt::format("{}: parameter {} is the same tensor as parameter {}; pass each tensor once",
                                       who, i, it->second));
        throw ValueError(fmt::format("{}: {} is already in parameter group {} (as parameter {}); a tensor belongs to "
                                     "one group: pass each tensor once",
                                     who, param_label(i, p), other, it->second));
      }
      params_.push_back(std::move(p));
      group_of_.push_back(g);
      held.indices.push_back(i);
    }
    groups_.push_back(std::move(held));
  }
  states_.resize(params_.size());
}

Optimizer::Optimizer(std::vector<Tensor> params, std::string name, double lr)
    : Optimizer(std::vector<ParamGroup>{{.params = std::move(params)}}, std::move(name), lr, 0.0) {}

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
  for (Group& group : groups_) group.lr = lr;
}

double Optimizer::group_lr(std::size_t group) const {
  check_group(group);
  return groups_[group].lr;
}

void Optimizer::set_group_lr(std::size_t group, double lr) {
  check_group(group);
  detail::check_lr(fmt::format("{}: parameter group {}", name_, group), lr);
  groups_[group].lr = lr;
}

void Optimizer::check_group(std::size_t group) const {
  if (group >= groups_.size())
    throw ValueError(fmt::format("{}: no parameter group {}: the optimizer has {} group{}", name_, group,
                                 groups_.size(), groups_.size() == 1 ? "" : "s"));
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
  std::vector<std::int64_t> groups(group_of_.begin(), group_of_.end());
  dict.emplace_back("groups", from_vector(groups));
  std::vector<double> lrs;
  for (const Group& group : groups_) lrs.push_back(group.lr);
  dict.emplace_back("lr", from_vector(lrs));
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
  // An entry of dtype `dtype` and shape `shape`: a scalar or one value per `each`.
  auto check_entry = [&](const std::string& key, const Tensor& t, DType dtype, const Shape& shape, const char* each) {
    if (t.dtype() != dtype)
      throw DTypeError(fmt::format("{}: entry '{}' is {}, expected {} {} (as state_dict() writes it)", who, key,
                                   describe(t), dtype_name(dtype), shape.str()));
    if (t.shape() != shape)
      throw ShapeError(fmt::format("{}: entry '{}' is {}, expected {}, {} {} (as state_dict() writes it)", who, key,
                                   describe(t), each, dtype_name(dtype), shape.str()));
  };
  auto check_scalar = [&](const std::string& key, const Tensor& t, DType dtype) {
    check_entry(key, t, dtype, Shape{}, "a scalar");
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
  // The groups before their learning rates: a dict of other groups fails there.
  if (const Tensor* t = find("groups")) {
    check_entry("groups", *t, int64, Shape{static_cast<std::int64_t>(params_.size())}, "one per parameter");
    const std::vector<std::int64_t> groups = t->to_vector<std::int64_t>();
    for (std::size_t i = 0; i < groups.size(); ++i)
      if (groups[i] != static_cast<std::int64_t>(group_of_[i]))
        throw ValueError(fmt::format("{}: the state dict has other parameter groups (entry 'groups'): parameter {} is "
                                     "in group {} there, in group {} here; build the optimizer with the same groups "
                                     "of the same parameters, in the same order",
                                     who, i, groups[i], group_of_[i]));
  }
  std::vector<double> new_lrs;
  if (const Tensor* t = find("lr")) {
    check_entry("lr", *t, float64, Shape{static_cast<std::int64_t>(groups_.size())}, "one per parameter group");
    new_lrs = t->to_vector<double>();
    for (std::size_t g = 0; g < new_lrs.size(); ++g)
      detail::check_lr(groups_.size() == 1 ? who + ": entry 'lr'" : fmt::format("{}: entry 'lr', group {}", who, g),
                       new_lrs[g]);
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
  for (std::size_t g = 0; g < groups_.size(); ++g) groups_[g].lr = new_lrs[g];
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
