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
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "tapeflow/tensor.h"

namespace tapeflow::optim {

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
  void zero_grad();
  /// Applies one update to every parameter whose gradient is defined, in place, with recording
  /// off. Throws ShapeError / DTypeError when a gradient's shape / dtype differs from its
  /// parameter's.
  void step();

  /// The learning rate the next step() uses (initially the options' lr).
  double lr() const { return lr_; }
  /// Changes the learning rate (e.g. from a schedule); throws ValueError when lr < 0.
  void set_lr(double lr);

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

 private:
  const OptimizerState* state_at(std::size_t index) const;

  std::vector<Tensor> params_;
  std::vector<std::unique_ptr<OptimizerState>> states_;
  std::string name_;
  double lr_;
};

}  // namespace tapeflow::optim
