#pragma once
/// Adagrad (tf.train.AdagradOptimizer, TF 1.x):
///   g = grad + weight_decay * var
///   accum += g^2                                  (accum starts at initial_accumulator_value)
///   var -= lr * g / sqrt(accum)
#include <vector>

#include "tapeflow/optim/optimizer.h"

namespace tapeflow::optim {

struct AdagradOptions {
  /// TF 1.x has no default; 0.001 is tf.keras's Adagrad default.
  double lr = 0.001;
  /// > 0 (TF's requirement: it keeps the first division finite).
  double initial_accumulator_value = 0.1;
  /// L2 penalty added to the gradient (torch's weight_decay); >= 0. A parameter group may set its own.
  double weight_decay = 0.0;
};

/// In a state_dict(): "state/<i>/accum".
struct AdagradState : OptimizerState {
  Tensor accum;  // sum of squared gradients, var's shape and dtype
};

/// One update of `var` (float32/float64) from `grad` (var's shape and dtype), in place; an
/// undefined state.accum is created filled with initial_accumulator_value.
void adagrad_update(Tensor& var, const Tensor& grad, AdagradState& state, const AdagradOptions& options,
                    double lr);

class Adagrad : public Optimizer {
 public:
  /// Throws ValueError naming the bad option
  /// ("Adagrad: invalid initial_accumulator_value: 0 (must be > 0)").
  explicit Adagrad(std::vector<Tensor> params, AdagradOptions options = {});
  /// One optimizer over parameter groups, each with its own lr and weight_decay (see optimizer.h);
  /// the options give the groups' defaults.
  Adagrad(std::vector<ParamGroup> groups, AdagradOptions options = {});
  const AdagradOptions& options() const { return options_; }

 protected:
  void update(std::size_t index, Tensor& param, const Tensor& grad) override;
  std::vector<StateField> state_fields(OptimizerState& state) const override;
  std::unique_ptr<OptimizerState> new_state() const override;

 private:
  AdagradOptions options_;
};

}  // namespace tapeflow::optim
