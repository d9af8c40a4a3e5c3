#pragma once
/// Training in graph mode (tf.gradients, tf.train): gradients, the global step, learning-rate
/// decay and the optimizers.
///
/// A gradient node runs `autograd::grad` on the tape its own Session::run records, and an
/// optimizer's apply node updates the session's variable values in place with the same update
/// functions as the eager optimizers (optim::apply_adam, optim::momentum_update, ...). So
///
///   Tensor global_step = train::get_or_create_global_step();
///   Tensor train_op = train::AdamOptimizer(1e-3).minimize(loss, global_step);
///   sess.run({train_op, loss}, feeds);
///
/// is one forward pass with the tape on, one backward pass and one update, as in eager mode.
/// Slots (Adam's moments, momentum accumulators) are non-trainable variables named like
/// TensorFlow's ("hidden1/weights/Adam", "hidden1/weights/Adam_1", "beta1_power"), initialized by
/// global_variables_initializer() like any variable: build the train op before the initializer.
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tapeflow/graph/graph.h"
#include "tapeflow/tensor.h"

namespace tapeflow {

/// tf.gradients: the gradients of sum(ys) (of sum(ys[i] * grad_ys[i]) when grad_ys are given) with
/// respect to each of xs, as graph tensors of xs' shapes, computed by one "gradients" node. xs may
/// be any floating graph tensors of ys' graph: variables, placeholders (the fed value), constants,
/// intermediates. An x that ys do not depend on gets zeros (TF's None). A run that needs them
/// records the tape of that run; gradients of gradients work (the inner node then records its
/// backward pass), and stop_gradient is respected at every order.
std::vector<Tensor> gradients(const std::vector<Tensor>& ys, const std::vector<Tensor>& xs,
                              const std::vector<Tensor>& grad_ys = {});

/// tf.hessians: for each x of xs (a fully defined shape S), the Hessian of sum(ys) with respect
/// to x, of shape S + S: row j is the gradient of the first gradient's element j, so the graph
/// holds one gradients node per element of x (meant for small xs, as tf.hessians' loop).
std::vector<Tensor> hessians(const std::vector<Tensor>& ys, const std::vector<Tensor>& xs);

namespace train {

/// The graph's global step (an int64 scalar variable "global_step", non-trainable, in the
/// GLOBAL_STEP and GLOBAL_VARIABLES collections), created at its first use.
Tensor get_or_create_global_step();
/// The global step, or an undefined Tensor when the graph has none.
Tensor get_global_step();
/// Creates it; ValueError when it exists.
Tensor create_global_step();

/// tf.train.exponential_decay as a graph tensor:
///   learning_rate * decay_rate ^ (global_step / decay_steps)   (the exponent floored when staircase)
/// global_step is a graph tensor (usually the global step); the result is float32.
Tensor exponential_decay(double learning_rate, const Tensor& global_step, double decay_steps, double decay_rate,
                         bool staircase = false, const std::string& name = "ExponentialDecay");

/// tf.train.cosine_decay as a graph tensor, with optim::cosine_decay's optional linear warm-up
/// (optim/schedule.h):
///   step < warmup_steps:  learning_rate * step / warmup_steps
///   otherwise, s = min(step - warmup_steps, decay_steps):
///     learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)
/// global_step is an int32/int64 scalar graph tensor (usually the global step); the result is a
/// float32 scalar, one "CosineDecay" node whose run computes optim::cosine_decay (in float64) of
/// the step's value, so both modes give the same rate. The arguments are checked when the node is
/// built, with optim::cosine_decay's messages; a negative step fails the run that feeds it.
Tensor cosine_decay(double learning_rate, const Tensor& global_step, double decay_steps, double alpha = 0.0,
                    std::int64_t warmup_steps = 0, const std::string& name = "CosineDecay");

/// tf.train.polynomial_decay as a graph tensor (same defaults):
///   without cycle: s = min(step, decay_steps), d = decay_steps
///   with cycle:    s = step, d = decay_steps * ceil(step / decay_steps) (decay_steps at step 0)
///   (learning_rate - end_learning_rate) * (1 - s / d) ^ power + end_learning_rate
/// global_step and the result as cosine_decay's: one "PolynomialDecay" node computing
/// optim::polynomial_decay.
Tensor polynomial_decay(double learning_rate, const Tensor& global_step, double decay_steps,
                        double end_learning_rate = 0.0001, double power = 1.0, bool cycle = false,
                        const std::string& name = "PolynomialDecay");

/// A linear warm-up in front of any schedule of the step (optim::linear_warmup's):
///   schedule(max(global_step - warmup_steps, 0)) * min(global_step / warmup_steps, 1)
/// `schedule` builds the rate from a step tensor of global_step's dtype (any of the schedules
/// above, or ops of your own) and must return a floating scalar; the result has its dtype and is
/// built under the name scope `name`:
///   Tensor lr = train::linear_warmup(step, 1000, [](const Tensor& s) {
///     return train::exponential_decay(0.1, s, 10000, 0.5);
///   });
/// With warmup_steps 0 it is schedule(global_step). ValueError when warmup_steps < 0.
Tensor linear_warmup(const Tensor& global_step, std::int64_t warmup_steps,
                     const std::function<Tensor(const Tensor& step)>& schedule,
                     const std::string& name = "LinearWarmup");

/// (gradient, variable) pairs, as tf.train.Optimizer's compute_gradients returns them.
using GradsAndVars = std::vector<std::pair<Tensor, Tensor>>;

/// The base of the graph optimizers (tf.train.Optimizer). compute_gradients and apply_gradients
/// are virtual so that a wrapper (train::DistributedOptimizer) stands in for the optimizer it
/// wraps; minimize calls both.
class Optimizer {
 public:
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// The gradients of `loss` (a scalar graph tensor) for var_list (default: the trainable
  /// variables of loss's graph).
  virtual GradsAndVars compute_gradients(const Tensor& loss, std::vector<Tensor> var_list = {});
  /// An operation applying one update to each variable from its gradient (creating the slots it
  /// needs), then adding 1 to `global_step` when given. Named like the optimizer ("Adam") unless
  /// `name` is given.
  virtual Tensor apply_gradients(const GradsAndVars& grads_and_vars, const Tensor& global_step = Tensor(),
                                 const std::string& name = "");
  /// compute_gradients then apply_gradients.
  Tensor minimize(const Tensor& loss, const Tensor& global_step = Tensor(), std::vector<Tensor> var_list = {},
                  const std::string& name = "");

  /// "Adam", "GradientDescent", ... (TensorFlow's default names).
  const std::string& name() const { return name_; }

 protected:
  /// learning_rate: a scalar (eager) or a float graph tensor such as exponential_decay's.
  Optimizer(std::string name, Tensor learning_rate);
  /// For a wrapper that overrides compute_gradients and apply_gradients to hand them to an inner
  /// optimizer: it has no learning rate, slots or update rule of its own.
  explicit Optimizer(std::string name) : name_(std::move(name)) {}

  /// The slots of one variable; created as variables "<variable>/<slot name>".
  struct Slot {
    std::string name;
    double initial_value;
  };
  virtual std::vector<Slot> slots() const = 0;
  /// Variables shared by all updates (Adam's beta powers), created once: {name, initial value}.
  virtual std::vector<Slot> shared_variables() const { return {}; }
  /// Updates `var` in place from `grad` with learning rate `lr`; `slots` are the session values of
  /// the variable's slots, `shared` those of the shared variables, in declaration order.
  using Update = std::function<void(Tensor& var, const Tensor& grad, std::vector<Tensor>& slots,
                                    std::vector<Tensor>& shared, double lr)>;
  /// Runs once per apply after every variable is updated (Adam advances its beta powers).
  using Finish = std::function<void(std::vector<Tensor>& shared)>;
  /// The update rule, capturing the hyper-parameters by value: the apply node keeps it, so an
  /// optimizer object need not outlive the graph (`AdamOptimizer(1e-3).minimize(loss)`).
  virtual Update update() const = 0;
  virtual Finish finish() const { return nullptr; }

 private:
  std::string name_;
  Tensor learning_rate_;
};

/// tf.train.GradientDescentOptimizer: var -= lr * grad.
class GradientDescentOptimizer : public Optimizer {
 public:
  explicit GradientDescentOptimizer(double learning_rate);
  explicit GradientDescentOptimizer(const Tensor& learning_rate);

 protected:
  std::vector<Slot> slots() const override { return {}; }
  Update update() const override;
};

/// tf.train.MomentumOptimizer: accum = momentum * accum + grad; var -= lr * accum (Nesterov:
/// var -= lr * (grad + momentum * accum)). Slot "Momentum".
class MomentumOptimizer : public Optimizer {
 public:
  MomentumOptimizer(double learning_rate, double momentum, bool use_nesterov = false);
  MomentumOptimizer(const Tensor& learning_rate, double momentum, bool use_nesterov = false);

 protected:
  std::vector<Slot> slots() const override { return {{"Momentum", 0.0}}; }
  Update update() const override;

 private:
  double momentum_;
  bool nesterov_;
};

/// tf.train.AdamOptimizer (defaults 0.001, 0.9, 0.999, 1e-8). Slots "Adam" (m) and "Adam_1" (v);
/// shared "beta1_power", "beta2_power".
class AdamOptimizer : public Optimizer {
 public:
  explicit AdamOptimizer(double learning_rate = 0.001, double beta1 = 0.9, double beta2 = 0.999,
                         double epsilon = 1e-8);
  explicit AdamOptimizer(const Tensor& learning_rate, double beta1 = 0.9, double beta2 = 0.999,
                         double epsilon = 1e-8);

 protected:
  /// An optimizer of Adam's slots and beta powers under another name (AdamWOptimizer).
  AdamOptimizer(std::string name, const Tensor& learning_rate, double beta1, double beta2, double epsilon);

  /// "<name>" (m) and "<name>_1" (v), as TensorFlow names Adam's slots after the optimizer.
  std::vector<Slot> slots() const override { return {{name(), 0.0}, {name() + "_1", 0.0}}; }
  std::vector<Slot> shared_variables() const override { return {{"beta1_power", beta1_}, {"beta2_power", beta2_}}; }
  Update update() const override;
  Finish finish() const override;

  double beta1_, beta2_, epsilon_;
};

/// tf.contrib.opt.AdamWOptimizer's name, signature and defaults (weight_decay first, then
/// AdamOptimizer's), with optim::AdamW's update, which is PyTorch's (optim/adamw.h):
///   var *= 1 - lr * weight_decay, then Adam with epsilon added after the bias correction.
/// TensorFlow's AdamWOptimizer does not multiply weight_decay by the learning rate: its
/// weight_decay w_tf is weight_decay = w_tf / lr here (at a constant learning rate). Every variable
/// the optimizer applies decays (TensorFlow's decay_var_list is not supported): to keep biases
/// and normalization scales undecayed, compute_gradients once and apply_gradients the two parts
/// with two optimizers, AdamWOptimizer(0.0, lr) for those. Slots "AdamW" (m) and "AdamW_1" (v);
/// shared "beta1_power", "beta2_power".
class AdamWOptimizer : public AdamOptimizer {
 public:
  explicit AdamWOptimizer(double weight_decay, double learning_rate = 0.001, double beta1 = 0.9,
                          double beta2 = 0.999, double epsilon = 1e-8);
  AdamWOptimizer(double weight_decay, const Tensor& learning_rate, double beta1 = 0.9, double beta2 = 0.999,
                 double epsilon = 1e-8);

 protected:
  Update update() const override;

 private:
  double weight_decay_;
};

/// tf.train.RMSPropOptimizer (defaults decay 0.9, momentum 0, epsilon 1e-10). Slots "RMSProp"
/// (mean square, starts at 1), "RMSProp_1" (momentum) and, when centered, "RMSProp_2" (mean
/// gradient).
class RMSPropOptimizer : public Optimizer {
 public:
  explicit RMSPropOptimizer(double learning_rate, double decay = 0.9, double momentum = 0.0, double epsilon = 1e-10,
                            bool centered = false);
  explicit RMSPropOptimizer(const Tensor& learning_rate, double decay = 0.9, double momentum = 0.0,
                            double epsilon = 1e-10, bool centered = false);

 protected:
  std::vector<Slot> slots() const override;
  Update update() const override;

 private:
  double decay_, momentum_, epsilon_;
  bool centered_;
};

/// tf.train.AdagradOptimizer (initial_accumulator_value 0.1). Slot "Adagrad".
class AdagradOptimizer : public Optimizer {
 public:
  explicit AdagradOptimizer(double learning_rate, double initial_accumulator_value = 0.1);
  explicit AdagradOptimizer(const Tensor& learning_rate, double initial_accumulator_value = 0.1);

 protected:
  std::vector<Slot> slots() const override { return {{"Adagrad", initial_accumulator_value_}}; }
  Update update() const override;

 private:
  double initial_accumulator_value_;
};

}  // namespace train
}  // namespace tapeflow
