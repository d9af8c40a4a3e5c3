#pragma once
/// nn::Module: the base of eager layers and models (PyTorch C++ frontend style).
///
/// A Module owns named parameters (trainable Tensors), named buffers (non-trainable state such as
/// batch norm's moving statistics) and named submodules, each registered in the constructor:
///
///   struct Net : tapeflow::nn::Module {
///     Net() : fc1(register_module("fc1", nn::Linear(784, 100))),
///             fc2(register_module("fc2", nn::Linear(100, 10))) {}
///     Tensor forward(const Tensor& x) override { return (*fc2)(relu((*fc1)(x))); }
///     std::shared_ptr<nn::Linear> fc1, fc2;
///   };
///
/// Names join with '/' (TensorFlow's separator, not torch's '.'): `fc1/weight`, `0/bias`. The same
/// names key checkpoints and summaries. Iteration order is registration order, the module's own
/// entries first, then each child's, recursively (pre-order).
///
/// Ownership: parameters and buffers are Tensors, i.e. shared handles; `parameters()` returns
/// handles to the very tensors the module computes with, so an optimizer updating them in place
/// updates the module. Submodules are held by std::shared_ptr. A Module is move-only: a copy would
/// silently share its weights with the original, so copying is disabled (hold a shared_ptr to
/// share a module on purpose).
#include <concepts>
#include <cstddef>
#include <iosfwd>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tapeflow/error.h"
#include "tapeflow/tensor.h"

namespace tapeflow::nn {

/// (name, tensor) pairs in registration order.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module;
/// (name, submodule) pairs in registration order.
using NamedModules = std::vector<std::pair<std::string, std::shared_ptr<Module>>>;

class Module {
 public:
  Module() = default;
  virtual ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  Module(Module&&) = default;
  Module& operator=(Module&&) = default;

  /// The computation: input -> output (shapes are documented by each module).
  virtual Tensor forward(const Tensor& input) = 0;
  /// Same as forward(input) (an exporter's trace also learns which module ran the ops).
  Tensor operator()(const Tensor& input);

  // ---- registration (call from the constructor). Names are non-empty, contain no '/', and are
  // unique among this module's parameters, buffers and submodules; otherwise ValueError.

  /// Registers a trainable tensor (a leaf; float32/float64 when `requires_grad`) and sets its
  /// requires_grad flag. Returns the stored handle (the same tensor).
  Tensor& register_parameter(std::string name, Tensor tensor, bool requires_grad = true);
  /// Registers non-trainable state (any dtype; never requires grad). Returns the stored handle.
  Tensor& register_buffer(std::string name, Tensor tensor);
  /// Registers a submodule held by shared_ptr and returns it.
  template <class M>
    requires std::derived_from<M, Module>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    if (!module) throw ValueError(fmt::format("{}: register_module('{}'): the module pointer is null", str_line(), name));
    add_child(std::move(name), module);
    return module;
  }
  /// Registers a submodule given by value (moved into a shared_ptr) and returns the shared_ptr.
  template <class M>
    requires(std::derived_from<std::remove_cvref_t<M>, Module> && !std::is_lvalue_reference_v<M>)
  std::shared_ptr<std::remove_cvref_t<M>> register_module(std::string name, M&& module) {
    return register_module(std::move(name), std::make_shared<std::remove_cvref_t<M>>(std::move(module)));
  }

  // ---- traversal: own entries first, then each child's under "child/", recursively

  /// All parameters with their '/'-joined names (`0/weight`). A tensor registered under several
  /// names (tied weights) is listed once, under its first name.
  NamedTensors named_parameters(bool recurse = true) const;
  /// The tensors of named_parameters(), as an optimizer takes them.
  std::vector<Tensor> parameters(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  /// Parameters then buffers, by name: what a checkpoint holds (io::save(path, net.state_dict())).
  NamedTensors state_dict() const;
  /// Copies `state` into the parameters and buffers of the same names, in place. With `strict`, a
  /// missing or an unexpected name is a ValueError listing them; a shape or dtype that differs
  /// is always an error (ShapeError / DTypeError naming the entry). Not recorded on the tape.
  void load_state_dict(const NamedTensors& state, bool strict = true);
  /// The direct submodules.
  NamedModules named_children() const { return children_; }
  std::vector<std::shared_ptr<Module>> children() const;

  // ---- mode

  /// Training mode on (default) or off, for this module and all its descendants. Modules such as
  /// dropout and batch norm behave differently in the two modes.
  virtual void train(bool on = true);
  /// Same as train(false).
  void eval() { train(false); }
  bool is_training() const { return training_; }

  /// Clears the accumulated gradients of all parameters (they become undefined).
  void zero_grad();

  // ---- printing

  /// The module's type name as printed: the class name without namespaces ("Linear").
  virtual std::string type_name() const;
  /// The arguments shown between parentheses: "784, 128" for Linear(784, 128). Empty by default.
  virtual std::string extra_repr() const { return {}; }
  /// `Linear(784, 128)`; a module with children prints them indented, one per line, torch style:
  /// "Sequential(\n  (0): Linear(784, 128)\n  (1): ReLU()\n)".
  std::string str() const;

 protected:
  /// One-line form used in error messages: `Linear(784, 128)`.
  std::string str_line() const { return fmt::format("{}({})", type_name(), extra_repr()); }

 private:
  void check_new_name(const char* what, const std::string& name) const;
  void add_child(std::string name, std::shared_ptr<Module> module);
  template <class Visit>
  void visit_tensors(bool buffers, bool recurse, const std::string& prefix, Visit& visit) const;

  NamedTensors parameters_;
  NamedTensors buffers_;
  NamedModules children_;
  bool training_ = true;
};

std::ostream& operator<<(std::ostream& os, const Module& m);

// ----------------------------------------------------------------------------------- Sequential

/// Applies its modules in order: forward(x) = m[n-1](...m[1](m[0](x))). Children are named by
/// index: "0", "1", ..., so parameters are `0/weight`, `0/bias`, `2/weight`, ...
///
///   nn::Sequential net(nn::Linear(784, 128), nn::ReLU(), nn::Linear(128, 10));
///
/// Modules are taken by value (moved into shared_ptrs) or as std::shared_ptr (shared, e.g. to
/// keep a typed handle). Note: `Sequential(Sequential(...))` with one argument moves, it does not
/// nest; nest a single Sequential with push_back.
class Sequential : public Module {
 public:
  Sequential() = default;
  template <class... Ms>
    requires(sizeof...(Ms) > 0)
  explicit Sequential(Ms&&... modules) {
    (push_back(std::forward<Ms>(modules)), ...);
  }
  Sequential(Sequential&&) = default;
  Sequential& operator=(Sequential&&) = default;

  /// Appends a module (by value or std::shared_ptr), registered under the name str(size()).
  template <class M>
  void push_back(M&& module) {
    push_back_ptr(to_module_ptr(std::forward<M>(module)));
  }

  std::size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }
  /// The i-th module; ValueError when i >= size().
  Module& operator[](std::size_t i) const { return *ptr(i); }
  std::shared_ptr<Module> ptr(std::size_t i) const;
  /// The i-th module as its concrete type T; ValueError when it is not a T.
  template <class T>
  T& at(std::size_t i) const {
    auto* p = dynamic_cast<T*>(ptr(i).get());
    if (!p) throw ValueError(fmt::format("Sequential::at({}): the module is {}, not the requested type", i,
                                         modules_[i]->type_name()));
    return *p;
  }
  auto begin() const { return modules_.begin(); }
  auto end() const { return modules_.end(); }

  /// Applies the modules in order; ValueError when empty.
  Tensor forward(const Tensor& input) override;

 private:
  template <class T> struct is_shared_ptr : std::false_type {};
  template <class T> struct is_shared_ptr<std::shared_ptr<T>> : std::true_type {};

  /// A module argument as a shared_ptr: a shared_ptr is kept, a value is moved into a new one.
  template <class M>
  static std::shared_ptr<Module> to_module_ptr(M&& m) {
    using D = std::remove_cvref_t<M>;
    if constexpr (is_shared_ptr<D>::value) {
      static_assert(std::derived_from<typename D::element_type, Module>,
                    "a std::shared_ptr given as a module must point to an nn::Module");
      return m;
    } else {
      static_assert(std::derived_from<D, Module>, "expected an nn::Module (by value) or a std::shared_ptr to one");
      static_assert(!std::is_lvalue_reference_v<M>,
                    "modules are move-only (a copy would share weights): pass a temporary, std::move(module), "
                    "or a std::shared_ptr to share it on purpose");
      return std::make_shared<D>(std::move(m));
    }
  }
  void push_back_ptr(std::shared_ptr<Module> module);
  std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace tapeflow::nn

/// fmt::format("{}", module) prints module.str(), for any Module-derived type.
template <class M>
  requires std::derived_from<M, tapeflow::nn::Module>
struct fmt::formatter<M> : fmt::formatter<std::string> {
  auto format(const M& m, fmt::format_context& ctx) const {
    return fmt::formatter<std::string>::format(m.str(), ctx);
  }
};
