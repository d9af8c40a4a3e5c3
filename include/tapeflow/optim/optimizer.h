#pragma once
/// The base of the eager optimizers (PyTorch C++ frontend shape, TensorFlow 1.x update rules).
///
///   tapeflow::optim::Adam opt(net.parameters(), {.lr = 1e-3});
///   for (auto& [x, y] : batches) {
///     opt.zero_grad();
///     Tensor loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, net(x)));
///     loss.backward();
///     opt.step();
///   }
///
/// An optimizer holds handles to its parameters (copies of a Tensor share its data, so `step()`
/// updates the caller's tensors in place) and one state per parameter, keyed by the parameter's
/// index in the list given to the constructor and created on that parameter's first update.
///
/// Each update rule is also a free function (`adam_update(var, grad, state, options, lr)` ...)
/// that `step()` calls once per parameter; graph mode's optimizers call the same functions.
///
/// State dicts: `state_dict()` returns everything the next steps depend on besides the
/// parameters and the constructor's options, as named tensors that io::save writes next to the
/// model's, so that training resumes exactly (bit for bit) where it stopped:
///
///   io::save(dir + "/model.safetensors", net.state_dict());
///   io::save(dir + "/optimizer.safetensors", opt.state_dict());
///   ...  // later, maybe in another process: the same model and optimizer, built afresh, then
///   net.load_state_dict(io::load(dir + "/model.safetensors"));
///   opt.load_state_dict(io::load(dir + "/optimizer.safetensors"));
///
/// The entries, named with '/' as a model's:
///
///   "optimizer"         uint8 [n]    the optimizer's name() in ASCII ("Adam"; in Python,
///                                    bytes(d["optimizer"]).decode())
///   "num_parameters"    int64 []     the number of parameters
///   "lr"                float64 []   lr(), as the last set_lr() (a schedule) left it
///   "state/<i>/<slot>"  the slots of parameter i (its index in parameters()), each of the
///                       parameter's shape and dtype: Adam "m" and "v"; Momentum "accum";
///                       RMSProp "ms", "mom" and, when centered, "mg"; Adagrad "accum"
///   "state/<i>/step"    int64 []     Adam's count of the updates of parameter i
///
/// A parameter without state (never updated, e.g. it never had a gradient) has no "state/<i>/"
/// entries; GradientDescent keeps no state at all. The constructor's options (betas, momentum,
/// ...) are not in the dict: build the optimizer that loads it with the same options, over the
/// same parameters in the same order.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tapeflow/tensor.h"

namespace tapeflow::optim {

/// (name, tensor) pairs: the type of nn::Module::state_dict() and of io::save / io::load.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// What an optimizer keeps per parameter (moments, accumulators, step count).
struct OptimizerState {
  virtual ~OptimizerState() = default;
};

class Optimizer {
 public:
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// Clears every parameter's gradient (sets it undefined, like PyTorch's set_to_none): the next
  /// backward() writes fresh gradients, and step() skips parameters that get none.
  virtual void zero_grad();
  /// Applies one update to every parameter whose gradient is defined, in place, with recording
  /// off. Throws ShapeError / DTypeError when a gradient's shape / dtype differs from its
  /// parameter's.
  virtual void step();

  /// The learning rate the next step() uses (initially the options' lr).
  virtual double lr() const { return lr_; }
  /// Changes the learning rate (e.g. from a schedule); throws ValueError when lr < 0.
  virtual void set_lr(double lr);

  /// The state as named tensors (entries: see the top of this header). The tensors are copies:
  /// training on does not change them.
  virtual NamedTensors state_dict() const;
  /// Replaces the whole state (every parameter's, and lr()) with copies of the tensors of
  /// `state`, a state_dict() of an optimizer of this type over the same parameters. Everything is
  /// checked before anything changes, so a load that throws leaves the optimizer as it was:
  /// ValueError when the dict is of another optimizer type or another number of parameters, or
  /// has missing or unexpected entries (listed); DTypeError / ShapeError naming an entry whose
  /// dtype / shape is not the expected one. Parameters without entries get no state (as before
  /// their first update).
  virtual void load_state_dict(const NamedTensors& state);

  /// The parameters, in the order given to the constructor.
  const std::vector<Tensor>& parameters() const { return params_; }
  /// "Adam", "Momentum", ... (the name in messages).
  const std::string& name() const { return name_; }

  /// The state of parameter `index` as the optimizer's state type (AdamState, ...), or nullptr
  /// before that parameter's first update. Throws ValueError when index is out of range.
  template <class S>
  const S* state(std::size_t index) const {
    return dynamic_cast<const S*>(state_at(index));
  }

 protected:
  /// Checks the parameters (non-empty list of distinct, defined, floating-point leaves) and the
  /// learning rate; `name` prefixes every message.
  Optimizer(std::vector<Tensor> params, std::string name, double lr);

  /// Updates parameter `index` from its (defined, checked) gradient with learning rate lr().
  virtual void update(std::size_t index, Tensor& param, const Tensor& grad) = 0;

  /// The state of parameter `index`, created (default-constructed) on first use.
  template <class S>
  S& mutable_state(std::size_t index) {
    auto& slot = states_[index];
    if (!slot) slot = std::make_unique<S>();
    return static_cast<S&>(*slot);
  }

  /// The state of parameter `index`, or nullptr before its first update; ValueError when index is
  /// out of range. (A wrapper such as distributed::DistributedOptimizer returns its inner
  /// optimizer's.)
  virtual const OptimizerState* state_at(std::size_t index) const;

  /// One part of a parameter's state as state_dict() names it, "state/<index>/<name>": a slot
  /// (a tensor of the parameter's shape and dtype) or a count (an int64 scalar in the dict).
  struct StateField {
    const char* name;
    Tensor* slot = nullptr;
    std::int64_t* count = nullptr;
  };
  /// The fields of `state`, one of this optimizer's states, that state_dict() saves and
  /// load_state_dict() requires of a parameter with state (all of them, or none). Default: none.
  virtual std::vector<StateField> state_fields(OptimizerState& state) const;
  /// A default-constructed state of this optimizer's state type, which load_state_dict() fills
  /// through state_fields(). Default: nullptr (no per-parameter state).
  virtual std::unique_ptr<OptimizerState> new_state() const;

 private:
  std::vector<Tensor> params_;
  std::vector<std::unique_ptr<OptimizerState>> states_;
  std::string name_;
  double lr_;
};

}  // namespace tapeflow::optim
