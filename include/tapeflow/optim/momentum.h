#pragma once
/// Gradient descent with momentum (tf.train.MomentumOptimizer), TensorFlow's formulation:
///   g = grad + weight_decay * var
///   accum = momentum * accum + g                (accum starts at zero)
///   var -= lr * accum                           (nesterov: var -= lr * (g + momentum * accum))
/// Unlike PyTorch's SGD, the learning rate multiplies the accumulator when applied, so changing
/// lr mid-training rescales the whole accumulated velocity (as in TensorFlow).
#include <vector>

#include "tapeflow/optim/optimizer.h"

namespace tapeflow::optim {

struct MomentumOptions {
  /// TF 1.x has no default; 0.01 is tf.keras's SGD default.
  double lr = 0.01;
  /// TF 1.x has no default; 0.9 is the value its tutorials and models use. >= 0.
  double momentum = 0.9;
  /// TF's use_nesterov.
  bool nesterov = false;
  /// L2 penalty added to the gradient (torch's weight_decay); >= 0. A parameter group may set its own.
  double weight_decay = 0.0;
};

/// In a state_dict(): "state/<i>/accum".
struct MomentumState : OptimizerState {
  Tensor accum;  // var's shape and dtype
};

/// One update of `var` (float32/float64) from `grad` (var's shape and dtype), in place; an
/// undefined state.accum is created as zeros.
void momentum_update(Tensor& var, const Tensor& grad, MomentumState& state, const MomentumOptions& options,
                     double lr);

class Momentum : public Optimizer {
 public:
  /// Throws ValueError naming the bad option ("Momentum: invalid momentum: -0.5 (must be >= 0)").
  explicit Momentum(std::vector<Tensor> params, MomentumOptions options = {});
  /// One optimizer over parameter groups, each with its own lr and weight_decay (see optimizer.h);
  /// the options give the groups' defaults.
  Momentum(std::vector<ParamGroup> groups, MomentumOptions options = {});
  const MomentumOptions& options() const { return options_; }

 protected:
  void update(std::size_t index, Tensor& param, const Tensor& grad) override;
  std::vector<StateField> state_fields(OptimizerState& state) const override;
  std::unique_ptr<OptimizerState> new_state() const override;

 private:
  MomentumOptions options_;
};

}  // namespace tapeflow::optim
