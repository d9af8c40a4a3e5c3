#pragma once
/// Adam (tf.train.AdamOptimizer, TF 1.x), with t the parameter's update count (1 on its first):
///   g = grad + weight_decay * var
///   m = beta1 * m + (1 - beta1) * g               (m, v start at zero)
///   v = beta2 * v + (1 - beta2) * g^2
///   lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
///   var -= lr_t * m / (sqrt(v) + epsilon)
/// TensorFlow's epsilon is the "epsilon hat" of the paper: it is added outside the bias
/// correction, so its effect differs from PyTorch's Adam with the same number.
#include <cstdint>
#include <vector>

#include "tapeflow/optim/optimizer.h"

namespace tapeflow::optim {

struct AdamOptions {
  double lr = 0.001;
  /// Decay of the first moment; in [0, 1).
  double beta1 = 0.9;
  /// Decay of the second moment; in [0, 1).
  double beta2 = 0.999;
  /// >= 0.
  double epsilon = 1e-8;
  /// L2 penalty added to the gradient (torch's weight_decay, not AdamW's decoupled decay); >= 0.
  /// A parameter group may set its own.
  double weight_decay = 0.0;
};

/// In a state_dict(): "state/<i>/m", "state/<i>/v" and "state/<i>/step".
struct AdamState : OptimizerState {
  Tensor m;               // first moment, var's shape and dtype
  Tensor v;               // second moment, var's shape and dtype
  std::int64_t step = 0;  // updates applied so far
};

/// One update of `var` (float32/float64) from `grad` (var's shape and dtype), in place; increments
/// state.step and creates undefined moments as zeros.
void adam_update(Tensor& var, const Tensor& grad, AdamState& state, const AdamOptions& options, double lr);
/// The same update with the bias corrections already folded into the step size
/// lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t), as TensorFlow's ApplyAdam kernel (graph mode
/// keeps beta1^t and beta2^t in variables). Undefined m / v are created as zeros.
void apply_adam(Tensor& var, const Tensor& grad, Tensor& m, Tensor& v, double lr_t, const AdamOptions& options);

class Adam : public Optimizer {
 public:
  /// Throws ValueError naming the bad option ("Adam: invalid learning rate: -1 (must be >= 0)").
  explicit Adam(std::vector<Tensor> params, AdamOptions options = {});
  /// One optimizer over parameter groups, each with its own lr and weight_decay (see optimizer.h);
  /// the options give the groups' defaults.
  Adam(std::vector<ParamGroup> groups, AdamOptions options = {});
  const AdamOptions& options() const { return options_; }

 protected:
  void update(std::size_t index, Tensor& param, const Tensor& grad) override;
  std::vector<StateField> state_fields(OptimizerState& state) const override;
  std::unique_ptr<OptimizerState> new_state() const override;

 private:
  AdamOptions options_;
};

}  // namespace tapeflow::optim
