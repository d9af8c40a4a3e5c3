#pragma once
/// AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, "Decoupled Weight Decay
/// Regularization"), as PyTorch's torch.optim.AdamW, with t the parameter's update count (1 on
/// its first):
///   var *= 1 - lr * weight_decay                  (the decay, before the Adam step)
///   m = beta1 * m + (1 - beta1) * grad            (m, v start at zero)
///   v = beta2 * v + (1 - beta2) * grad^2
///   var -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + epsilon)
/// The decay never enters the moments (Adam's weight_decay adds weight_decay * var to the
/// gradient, which the moments then rescale), and epsilon is PyTorch's: added after the bias
/// correction of sqrt(v), unlike the "epsilon hat" of TensorFlow's Adam (adam.h).
///
/// TensorFlow 1.x's tf.contrib.opt.AdamWOptimizer differs in two ways: its weight_decay is not
/// multiplied by the learning rate (var -= weight_decay * var), and its Adam step is TF's (epsilon
/// hat). Its weight_decay w_tf is weight_decay = w_tf / lr here (at a constant learning rate).
///
/// Defaults: PyTorch's (lr 1e-3, betas 0.9 and 0.999, eps 1e-8, weight_decay 1e-2). The usual
/// transformer setup decays the weights only, with parameter groups (optimizer.h):
///   optim::AdamW opt({{.params = weights}, {.params = biases_and_norm_scales, .weight_decay = 0.0}},
///                    {.lr = 3e-4, .weight_decay = 0.1});
#include <vector>

#include "tapeflow/optim/adam.h"
#include "tapeflow/optim/optimizer.h"

namespace tapeflow::optim {

struct AdamWOptions {
  double lr = 0.001;
  /// Decay of the first moment; in [0, 1).
  double beta1 = 0.9;
  /// Decay of the second moment; in [0, 1).
  double beta2 = 0.999;
  /// >= 0; added to sqrt(v) after its bias correction (PyTorch's eps).
  double epsilon = 1e-8;
  /// The decoupled decay: each step multiplies var by 1 - lr * weight_decay; >= 0. A parameter
  /// group may set its own.
  double weight_decay = 0.01;
};

/// AdamW keeps Adam's state. In a state_dict(): "state/<i>/m", "state/<i>/v" and "state/<i>/step".
using AdamWState = AdamState;

/// One update of `var` (float32/float64) from `grad` (var's shape and dtype), in place, with
/// learning rate `lr` and options.weight_decay; increments state.step and creates undefined
/// moments as zeros.
void adamw_update(Tensor& var, const Tensor& grad, AdamWState& state, const AdamWOptions& options, double lr);
/// The same update with the bias corrections given: bias_correction1 = 1 - beta1^t and
/// bias_correction2 = 1 - beta2^t, both in (0, 1] (graph mode keeps beta1^t and beta2^t in
/// variables, as TensorFlow). Undefined m / v are created as zeros.
void apply_adamw(Tensor& var, const Tensor& grad, Tensor& m, Tensor& v, double lr, double bias_correction1,
                 double bias_correction2, const AdamWOptions& options);

class AdamW : public Optimizer {
 public:
  /// Throws ValueError naming the bad option ("AdamW: invalid beta2: 1 (must be in [0, 1))").
  explicit AdamW(std::vector<Tensor> params, AdamWOptions options = {});
  /// One optimizer over parameter groups, each with its own lr and weight_decay (see optimizer.h);
  /// the options give the groups' defaults.
  AdamW(std::vector<ParamGroup> groups, AdamWOptions options = {});
  const AdamWOptions& options() const { return options_; }

 protected:
  void update(std::size_t index, Tensor& param, const Tensor& grad) override;
  std::vector<StateField> state_fields(OptimizerState& state) const override;
  std::unique_ptr<OptimizerState> new_state() const override;

 private:
  AdamWOptions options_;
};

}  // namespace tapeflow::optim
