#include "tapeflow/nn/module.h"

#include <algorithm>
#include <cstdlib>
#include <ostream>
#include <typeinfo>
#include <unordered_set>

#include <fmt/ranges.h>

#include "autograd/door.h"
#include "tapeflow/autograd.h"
#include "tapeflow/ops/elementwise.h"

#if __has_include(<cxxabi.h>)
#include <cxxabi.h>
#endif

namespace tapeflow::nn {

Module::~Module() = default;

Tensor Module::operator()(const Tensor& input) {
  autograd::Tracer* tracer = autograd::active_tracer;
  if (!tracer) [[likely]]
    return forward(input);
  tracer->enter_module(this);
  try {
    Tensor out = forward(input);
    tracer->leave_module();
    return out;
  } catch (...) {
    tracer->leave_module();
    throw;
  }
}

void Module::check_new_name(const char* what, const std::string& name) const {
  if (name.empty())
    throw ValueError(fmt::format("{}: {} name must not be empty", str_line(), what));
  if (name.find('/') != std::string::npos)
    throw ValueError(fmt::format("{}: {} name '{}' must not contain '/' (it separates the names of nested "
                                 "modules); use '_' instead",
                                 str_line(), what, name));
  auto taken = [&](const auto& entries) {
    for (const auto& entry : entries)
      if (entry.first == name) return true;
    return false;
  };
  const char* kind = taken(parameters_) ? "a parameter"
                     : taken(buffers_)  ? "a buffer"
                     : taken(children_) ? "a submodule"
                                        : nullptr;
  if (kind)
    throw ValueError(fmt::format("{}: cannot register {} '{}': {} of that name is already registered; pick "
                                 "another name",
                                 str_line(), what, name, kind));
}

Tensor& Module::register_parameter(std::string name, Tensor tensor, bool requires_grad) {
  check_new_name("parameter", name);
  if (!tensor.defined())
    throw ValueError(fmt::format("{}: register_parameter('{}'): the tensor is undefined", str_line(), name));
  if (!tensor.is_leaf())
    throw ValueError(fmt::format("{}: register_parameter('{}'): the tensor {} {} is computed (it has a tape "
                                 "record); register a leaf, e.g. t.detach()",
                                 str_line(), name, dtype_name(tensor.dtype()), tensor.shape().str()));
  if (requires_grad && !is_floating(tensor.dtype()))
    throw DTypeError(fmt::format("{}: register_parameter('{}'): a trainable parameter must be float32 or "
                                 "float64, got {} {}; cast it, or register it as a buffer",
                                 str_line(), name, dtype_name(tensor.dtype()), tensor.shape().str()));
  tensor.requires_grad_(requires_grad);
  parameters_.emplace_back(std::move(name), std::move(tensor));
  return parameters_.back().second;
}

Tensor& Module::register_buffer(std::string name, Tensor tensor) {
  check_new_name("buffer", name);
  if (!tensor.defined())
    throw ValueError(fmt::format("{}: register_buffer('{}'): the tensor is undefined", str_line(), name));
  if (tensor.requires_grad())
    throw ValueError(fmt::format("{}: register_buffer('{}'): the tensor {} {} requires grad; a buffer is "
                                 "not trainable: register a detach()ed tensor, or a parameter",
                                 str_line(), name, dtype_name(tensor.dtype()), tensor.shape().str()));
  buffers_.emplace_back(std::move(name), std::move(tensor));
  return buffers_.back().second;
}

void Module::add_child(std::string name, std::shared_ptr<Module> module) {
  check_new_name("submodule", name);
  if (module.get() == this)
    throw ValueError(fmt::format("{}: register_module('{}'): a module cannot contain itself", str_line(), name));
  children_.emplace_back(std::move(name), std::move(module));
}

// Pre-order, own entries first. Iterative, with an explicit stack (deep nests do not recurse).
template <class Visit>
void Module::visit_tensors(bool buffers, bool recurse, const std::string& prefix, Visit& visit) const {
  struct Item {
    const Module* module;
    std::string prefix;
  };
  std::vector<Item> stack{{this, prefix}};
  while (!stack.empty()) {
    Item item = std::move(stack.back());
    stack.pop_back();
    for (const auto& [name, t] : buffers ? item.module->buffers_ : item.module->parameters_)
      visit(item.prefix + name, t);
    if (!recurse) break;
    const auto& kids = item.module->children_;
    for (auto it = kids.rbegin(); it != kids.rend(); ++it)
      stack.push_back({it->second.get(), item.prefix + it->first + "/"});
  }
}

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  std::unordered_set<const TensorImpl*> seen;
  auto visit = [&](std::string name, const Tensor& t) {
    if (seen.insert(t.impl().get()).second) out.emplace_back(std::move(name), t);
  };
  visit_tensors(false, recurse, "", visit);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  std::unordered_set<const TensorImpl*> seen;
  auto visit = [&](std::string name, const Tensor& t) {
    if (seen.insert(t.impl().get()).second) out.emplace_back(std::move(name), t);
  };
  visit_tensors(true, recurse, "", visit);
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_buffers(recurse)) out.push_back(t);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  out.reserve(children_.size());
  for (const auto& [name, m] : children_) out.push_back(m);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, m] : children_) m->train(on);
}

void Module::zero_grad() {
  for (auto& t : parameters()) t.set_grad(Tensor());
}

std::string Module::type_name() const {
  std::string name = typeid(*this).name();
#if __has_include(<cxxabi.h>)
  int status = 0;
  char* demangled = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
  if (status == 0 && demangled) name = demangled;
  std::free(demangled);
#endif
  // Drop namespaces (and nothing inside template arguments).
  std::size_t cut = 0, depth = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '<') ++depth;
    if (name[i] == '>' && depth > 0) --depth;
    if (depth == 0 && name.compare(i, 2, "::") == 0) cut = i + 2;
  }
  return name.substr(cut);
}

std::string Module::str() const {
  std::string out = type_name() + "(" + extra_repr();
  if (children_.empty()) return out + ")";
  if (!extra_repr().empty()) out += ",";
  out += "\n";
  for (const auto& [name, child] : children_) {
    std::string s = child->str();
    std::string indented;
    for (char c : s) {
      indented += c;
      if (c == '\n') indented += "  ";
    }
    out += fmt::format("  ({}): {}\n", name, indented);
  }
  return out + ")";
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.str(); }

// ----------------------------------------------------------------------------------- Sequential

void Sequential::push_back_ptr(std::shared_ptr<Module> module) {
  register_module(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
}

std::shared_ptr<Module> Sequential::ptr(std::size_t i) const {
  if (i >= modules_.size())
    throw ValueError(fmt::format("Sequential: index {} is out of range for {} modules", i, modules_.size()));
  return modules_[i];
}

Tensor Sequential::forward(const Tensor& input) {
  if (modules_.empty())
    throw ValueError("Sequential::forward: the Sequential is empty; push_back() modules into it first");
  Tensor x = (*modules_.front())(input);
  for (std::size_t i = 1; i < modules_.size(); ++i) x = (*modules_[i])(x);
  return x;
}

NamedTensors Module::state_dict() const {
  NamedTensors state = named_parameters();
  for (auto& entry : named_buffers()) state.push_back(std::move(entry));
  return state;
}

void Module::load_state_dict(const NamedTensors& state, bool strict) {
  NamedTensors own = state_dict();
  std::vector<std::string> missing, unexpected;
  // The lambdas take `name` by an init-capture: clang before 16 cannot capture a structured binding.
  for (const auto& [name, value] : state)
    if (std::none_of(own.begin(), own.end(), [&name = name](const auto& e) { return e.first == name; }))
      unexpected.push_back(name);
  for (auto& [name, target] : own) {
    auto it = std::find_if(state.begin(), state.end(), [&name = name](const auto& e) { return e.first == name; });
    if (it == state.end()) {
      missing.push_back(name);
      continue;
    }
    const Tensor& value = it->second;
    if (!value.defined()) throw ValueError(fmt::format("load_state_dict: the value of '{}' is undefined", name));
    if (value.dtype() != target.dtype())
      throw DTypeError(fmt::format("load_state_dict: '{}' of {} is {}, the checkpoint's value is {}", name,
                                   str_line(), dtype_name(target.dtype()), dtype_name(value.dtype())));
    if (value.shape() != target.shape())
      throw ShapeError(fmt::format("load_state_dict: '{}' of {} has shape {}, the checkpoint's value {}", name,
                                   str_line(), target.shape().str(), value.shape().str()));
  }
  if (strict && (!missing.empty() || !unexpected.empty()))
    throw ValueError(fmt::format("load_state_dict into {}: missing keys [{}], unexpected keys [{}] (pass strict = "
                                 "false to load the matching ones only)",
                                 str_line(), fmt::join(missing, ", "), fmt::join(unexpected, ", ")));
  NoGradGuard no_grad;
  for (auto& [name, target] : own) {
    auto it = std::find_if(state.begin(), state.end(), [&name = name](const auto& e) { return e.first == name; });
    if (it != state.end()) copy_(target, it->second.detach());
  }
}

}  // namespace tapeflow::nn
