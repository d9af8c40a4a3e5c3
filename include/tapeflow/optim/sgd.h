#pragma once
/// Plain gradient descent (tf.train.GradientDescentOptimizer, also spelled SGD):
///   g = grad + weight_decay * var
///   var -= lr * g
#include <vector>

#include "tapeflow/optim/optimizer.h"

namespace tapeflow::optim {

struct GradientDescentOptions {
  /// TF 1.x has no default; 0.01 is tf.keras's SGD default.
  double lr = 0.01;
  /// L2 penalty added to the gradient (torch's weight_decay); >= 0. A parameter group may set its own.
  double weight_decay = 0.0;
};
using SGDOptions = GradientDescentOptions;

/// One update of `var` (any shape, float32/float64) from `grad` (var's shape and dtype), in place.
void gradient_descent_update(Tensor& var, const Tensor& grad, const GradientDescentOptions& options, double lr);

class GradientDescent : public Optimizer {
 public:
  /// Throws ValueError naming the bad option ("GradientDescent: invalid learning rate: -1 ...").
  explicit GradientDescent(std::vector<Tensor> params, GradientDescentOptions options = {});
  /// One optimizer over parameter groups, each with its own lr and weight_decay (see optimizer.h);
  /// the options give the groups' defaults.
  GradientDescent(std::vector<ParamGroup> groups, GradientDescentOptions options = {});
  const GradientDescentOptions& options() const { return options_; }

 protected:
  void update(std::size_t index, Tensor& param, const Tensor& grad) override;

 private:
  GradientDescentOptions options_;
};
using SGD = GradientDescent;

}  // namespace tapeflow::optim
