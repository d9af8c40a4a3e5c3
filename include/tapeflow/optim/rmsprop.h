#pragma once
/// RMSProp (tf.train.RMSPropOptimizer, TF 1.x):
///   g = grad + weight_decay * var
///   ms = decay * ms + (1 - decay) * g^2             (ms starts at ONE, as TF 1.x)
///   mom = momentum * mom + lr * g / sqrt(ms + epsilon)   (mom starts at zero)
///   var -= mom
/// centered: mg = decay * mg + (1 - decay) * g (mg starts at zero) and the denominator is
/// sqrt(ms - mg^2 + epsilon).
#include <vector>

#include "tapeflow/optim/optimizer.h"

namespace tapeflow::optim {

struct RMSPropOptions {
  /// TF 1.x has no default; 0.001 is tf.keras's RMSprop default.
  double lr = 0.001;
  /// Discount of the running mean square; in [0, 1).
  double decay = 0.9;
  /// >= 0.
  double momentum = 0.0;
  /// >= 0 (added under the square root).
  double epsilon = 1e-10;
  /// Normalise by the estimated variance (ms - mg^2) instead of the mean square.
  bool centered = false;
  /// L2 penalty added to the gradient (torch's weight_decay); >= 0. A parameter group may set its own.
  double weight_decay = 0.0;
};

/// In a state_dict(): "state/<i>/ms", "state/<i>/mom" and, when centered, "state/<i>/mg".
struct RMSPropState : OptimizerState {
  Tensor ms;   // mean square, starts at one
  Tensor mom;  // momentum, starts at zero
  Tensor mg;   // mean gradient (centered only), starts at zero
};

/// One update of `var` (float32/float64) from `grad` (var's shape and dtype), in place; creates
/// the undefined slots (ms as ones, mom and, when centered, mg as zeros).
void rmsprop_update(Tensor& var, const Tensor& grad, RMSPropState& state, const RMSPropOptions& options,
                    double lr);

class RMSProp : public Optimizer {
 public:
  /// Throws ValueError naming the bad option ("RMSProp: invalid decay: 1 (must be in [0, 1))").
  explicit RMSProp(std::vector<Tensor> params, RMSPropOptions options = {});
  /// One optimizer over parameter groups, each with its own lr and weight_decay (see optimizer.h);
  /// the options give the groups' defaults.
  RMSProp(std::vector<ParamGroup> groups, RMSPropOptions options = {});
  const RMSPropOptions& options() const { return options_; }

 protected:
  void update(std::size_t index, Tensor& param, const Tensor& grad) override;
  std::vector<StateField> state_fields(OptimizerState& state) const override;
  std::unique_ptr<OptimizerState> new_state() const override;

 private:
  RMSPropOptions options_;
};

}  // namespace tapeflow::optim
