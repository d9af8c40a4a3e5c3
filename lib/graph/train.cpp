// Graph-mode training: the gradients node, the global step, the learning-rate schedules and the
// optimizers, whose apply nodes call the eager optimizers' update functions.
#include "tapeflow/graph/train.h"

#include <cmath>

#include <fmt/format.h>

#include "graph/internal.h"
#include "optim/checks.h"
#include "tapeflow/autograd.h"
#include "tapeflow/graph/session.h"
#include "tapeflow/graph/variables.h"
#include "tapeflow/ops/array.h"
#include "tapeflow/ops/elementwise.h"
#include "tapeflow/optim/adagrad.h"
#include "tapeflow/optim/adam.h"
#include "tapeflow/optim/adamw.h"
#include "tapeflow/optim/momentum.h"
#include "tapeflow/optim/rmsprop.h"
#include "tapeflow/optim/schedule.h"
#include "tapeflow/optim/sgd.h"

namespace tapeflow {

using graph::Node;
using graph::RunContext;
using Args = std::span<const Tensor>;

namespace {

Graph& graph_of(const char* who, const Tensor& t) {
  Node& n = graph::node_of(who, t);
  if (!n.graph()) throw ValueError(fmt::format("{}: the graph of '{}' no longer exists", who, n.name()));
  return *n.graph();
}

// Does `from` depend on node `target` (through inputs and control inputs)?
bool depends_on(const Node& from, const Node* target) {
  std::vector<const Node*> stack{&from};
  std::vector<char> seen(static_cast<std::size_t>(from.id()) + 1, 0);
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    if (n == target) return true;
    if (seen[static_cast<std::size_t>(n->id())]) continue;
    seen[static_cast<std::size_t>(n->id())] = 1;
    for (const Tensor& in : n->inputs())
      if (in.defined()) stack.push_back(in.impl()->node.get());
    for (const auto& c : n->control_inputs()) stack.push_back(c.get());
  }
  return false;
}

}  // namespace

// ---------------------------------------------------------------------------- gradients

std::vector<Tensor> gradients(const std::vector<Tensor>& ys, const std::vector<Tensor>& xs,
                              const std::vector<Tensor>& grad_ys) {
  if (ys.empty() || xs.empty()) throw ValueError("gradients: needs at least one y and one x");
  if (!grad_ys.empty() && grad_ys.size() != ys.size())
    throw ValueError(fmt::format("gradients: {} ys but {} grad_ys; give one gradient per y, or none (ones)",
                                 ys.size(), grad_ys.size()));
  Graph& g = graph_of("gradients", ys[0]);
  for (const auto* list : {&ys, &xs, &grad_ys})
    for (const Tensor& t : *list) {
      if (&graph_of("gradients", t) != &g)
        throw ValueError(fmt::format("gradients: '{}' belongs to another graph than '{}'", t.impl()->name,
                                     ys[0].impl()->name));
      if (is_operation(t)) throw ValueError(fmt::format("gradients: '{}' is an operation", t.impl()->name));
      if (!is_floating(t.dtype()))
        throw DTypeError(fmt::format("gradients: '{}' has dtype {}; gradients need float32 or float64 tensors",
                                     t.impl()->name, dtype_name(t.dtype())));
    }
  for (std::size_t i = 0; i < grad_ys.size(); ++i)
    if (grad_ys[i].dtype() != ys[i].dtype() || !graph::internal::compatible(ys[i].shape(), grad_ys[i].shape()))
      throw ShapeError(fmt::format("gradients: grad_ys[{}] '{}' is {} {}, but its y '{}' is {} {}", i,
                                   grad_ys[i].impl()->name, grad_ys[i].shape().str(), dtype_name(grad_ys[i].dtype()),
                                   ys[i].impl()->name, ys[i].shape().str(), dtype_name(ys[i].dtype())));
  std::vector<Tensor> inputs = ys;
  inputs.insert(inputs.end(), xs.begin(), xs.end());
  inputs.insert(inputs.end(), grad_ys.begin(), grad_ys.end());
  std::vector<graph::OutputSpec> outputs;
  for (const Tensor& x : xs) outputs.push_back({x.shape(), x.dtype()});
  const std::size_t ny = ys.size(), nx = xs.size();
  const bool seeded = !grad_ys.empty();
  auto node = g.add_node("Gradients", "gradients", std::move(inputs), std::move(outputs),
                         [ny, nx, seeded](Args in, RunContext& context) {
    std::vector<Tensor> yv, xv, seeds;
    std::vector<std::size_t> live;
    for (std::size_t i = 0; i < ny; ++i)
      if (in[i].requires_grad()) {
        yv.push_back(in[i]);
        seeds.push_back(seeded ? in[ny + nx + i] : ones_like(in[i]));
      }
    for (std::size_t i = ny; i < ny + nx; ++i)
      if (in[i].requires_grad()) {
        xv.push_back(in[i]);
        live.push_back(i - ny);
      }
    std::vector<Tensor> result;
    for (std::size_t i = ny; i < ny + nx; ++i) result.push_back(zeros(in[i].shape(), in[i].dtype()));
    if (!yv.empty() && !xv.empty()) {
      auto grads = autograd::grad(yv, xv, {.grad_outputs = seeds, .retain_graph = context.retain_graph,
                                           .create_graph = context.create_graph});
      for (std::size_t k = 0; k < live.size(); ++k)
        result[live[k]] = context.create_graph ? grads[k] : grads[k].detach();
    }
    return result;
  });
  node->gradients_of = Node::GradientsOf{ny, nx};
  std::vector<Tensor> out;
  for (int i = 0; i < node->num_outputs(); ++i) out.push_back(node->output(i));
  return out;
}

std::vector<Tensor> hessians(const std::vector<Tensor>& ys, const std::vector<Tensor>& xs) {
  for (const Tensor& x : xs) {
    graph::node_of("hessians", x);
    if (!x.shape().is_fully_known())
      throw ValueError(fmt::format("hessians: '{}' has shape {}; the Hessian needs a fully defined shape",
                                   x.impl()->name, x.shape().str()));
    if (2 * x.shape().rank() > Shape::kMaxRank)
      throw ValueError(fmt::format("hessians: '{}' has shape {}; its Hessian would have rank {}, more than tapeflow's "
                                   "{}: reshape x to fewer dimensions first",
                                   x.impl()->name, x.shape().str(), 2 * x.shape().rank(), Shape::kMaxRank));
  }
  name_scope scope("hessians");
  std::vector<Tensor> first = gradients(ys, xs);
  std::vector<Tensor> result;
  for (std::size_t k = 0; k < xs.size(); ++k) {
    // Row j of the Hessian: the gradient of the first gradient's element j (tf.hessians loops the same way).
    const std::int64_t n = xs[k].numel();
    Tensor flat = reshape(first[k], Shape{n});
    std::vector<Tensor> rows;
    for (std::int64_t j = 0; j < n; ++j) rows.push_back(gradients({slice(flat, {j}, {1})}, {xs[k]})[0]);
    std::vector<std::int64_t> dims = xs[k].shape().vec();
    dims.insert(dims.end(), xs[k].shape().begin(), xs[k].shape().end());
    result.push_back(reshape(stack(rows), Shape(dims)));
  }
  return result;
}

namespace train {

// ---------------------------------------------------------------------------- global step

Tensor get_global_step() {
  auto steps = get_collection(GraphKeys::GLOBAL_STEP);
  return steps.empty() ? Tensor() : steps.front();
}

Tensor create_global_step() {
  if (get_global_step().defined()) throw ValueError("create_global_step: the graph already has a global step");
  Graph& g = get_default_graph();
  return graph::internal::variable_from_initializer(g, "global_step", Shape{}, int64, zeros_initializer(), false,
                                                    {GraphKeys::GLOBAL_VARIABLES, GraphKeys::GLOBAL_STEP});
}

Tensor get_or_create_global_step() {
  Tensor step = get_global_step();
  return step.defined() ? step : create_global_step();
}

Tensor exponential_decay(double learning_rate, const Tensor& global_step, double decay_steps, double decay_rate,
                         bool staircase, const std::string& name) {
  if (decay_steps <= 0)
    throw ValueError(fmt::format("exponential_decay: decay_steps must be > 0, got {}", decay_steps));
  Tensor result;
  std::string scope_name;
  {
    name_scope scope(name);
    scope_name = scope.name();
    Tensor p = cast(global_step, float32) / decay_steps;
    if (staircase) p = floor(p);
    result = pow(scalar(decay_rate), p) * learning_rate;
  }
  return named(scope_name, result);
}

namespace {

// A step tensor of a schedule: an integer scalar of a graph.
void check_step_tensor(const char* who, const Tensor& step) {
  graph_of(who, step);
  if (step.dtype() != int32 && step.dtype() != int64)
    throw DTypeError(fmt::format("{}: the step '{}' is {} {}; pass an int32/int64 scalar such as "
                                 "train::get_or_create_global_step()",
                                 who, step.impl()->name, dtype_name(step.dtype()), step.shape().str()));
  if (step.shape().rank() != 0)
    throw ShapeError(fmt::format("{}: the step '{}' is {} {}; pass a scalar such as "
                                 "train::get_or_create_global_step()",
                                 who, step.impl()->name, dtype_name(step.dtype()), step.shape().str()));
}

// A schedule as one float32 scalar node of the step, whose run computes `rate` (an eager schedule
// of optim/schedule.h) of the step's value: one formula for both modes.
Tensor schedule_node(const char* who, const std::string& type, const std::string& name, const Tensor& global_step,
                     AttrMap attrs, std::function<double(std::int64_t)> rate) {
  check_step_tensor(who, global_step);
  Graph& g = graph_of(who, global_step);
  auto node = g.add_node(type, name, {global_step}, {{Shape{}, float32}},
                         [rate = std::move(rate)](Args in, RunContext&) {
                           return std::vector<Tensor>{scalar(rate(in[0].item<std::int64_t>()), float32)};
                         });
  node->attrs = std::move(attrs);
  return node->output(0);
}

}  // namespace

Tensor cosine_decay(double learning_rate, const Tensor& global_step, double decay_steps, double alpha,
                    std::int64_t warmup_steps, const std::string& name) {
  optim::detail::check_cosine_decay("cosine_decay", learning_rate, decay_steps, alpha, warmup_steps);
  return schedule_node("cosine_decay", "CosineDecay", name, global_step,
                       {{"learning_rate", learning_rate},
                        {"decay_steps", decay_steps},
                        {"alpha", alpha},
                        {"warmup_steps", warmup_steps}},
                       [=](std::int64_t step) {
                         return optim::cosine_decay(learning_rate, step, decay_steps, alpha, warmup_steps);
                       });
}

Tensor polynomial_decay(double learning_rate, const Tensor& global_step, double decay_steps, double end_learning_rate,
                        double power, bool cycle, const std::string& name) {
  optim::detail::check_polynomial_decay("polynomial_decay", learning_rate, decay_steps, end_learning_rate, power);
  return schedule_node("polynomial_decay", "PolynomialDecay", name, global_step,
                       {{"learning_rate", learning_rate},
                        {"decay_steps", decay_steps},
                        {"end_learning_rate", end_learning_rate},
                        {"power", power},
                        {"cycle", cycle}},
                       [=](std::int64_t step) {
                         return optim::polynomial_decay(learning_rate, step, decay_steps, end_learning_rate, power,
                                                        cycle);
                       });
}

Tensor linear_warmup(const Tensor& global_step, std::int64_t warmup_steps,
                     const std::function<Tensor(const Tensor& step)>& schedule, const std::string& name) {
  optim::detail::check_step("linear_warmup", "warmup_steps", warmup_steps);
  if (!schedule) throw ValueError("linear_warmup: the schedule is empty; pass a function of the step tensor");
  check_step_tensor("linear_warmup", global_step);
  auto checked = [](const Tensor& rate) {
    if (!rate.defined() || !rate.is_symbolic() || is_operation(rate) || !is_floating(rate.dtype()) ||
        rate.shape().rank() != 0)
      throw ValueError(fmt::format("linear_warmup: the schedule returned {}; it must return a float32/float64 "
                                   "scalar graph tensor (the learning rate)",
                                   !rate.defined()       ? std::string("an undefined tensor")
                                   : !rate.is_symbolic() ? std::string("an eager tensor")
                                                         : fmt::format("'{}' {} {}", rate.impl()->name,
                                                                       dtype_name(rate.dtype()), rate.shape().str())));
    return rate;
  };
  if (warmup_steps == 0) return checked(schedule(global_step));
  Tensor result;
  std::string scope_name;
  {
    name_scope scope(name);
    scope_name = scope.name();
    // schedule(max(step - warmup_steps, 0)) * min(step / warmup_steps, 1)
    const Tensor shifted = maximum(global_step - static_cast<double>(warmup_steps), scalar(0.0, global_step.dtype()));
    const Tensor rate = checked(schedule(shifted));
    const Tensor warmed = cast(global_step, rate.dtype()) / static_cast<double>(warmup_steps);
    result = rate * minimum(warmed, scalar(1.0, rate.dtype()));
  }
  return named(scope_name, result);
}

// ---------------------------------------------------------------------------- Optimizer

Optimizer::Optimizer(std::string name, Tensor learning_rate)
    : name_(std::move(name)), learning_rate_(std::move(learning_rate)) {
  if (!learning_rate_.defined()) throw ValueError(fmt::format("{}Optimizer: the learning rate is undefined", name_));
  if (learning_rate_.numel() != 1 && learning_rate_.shape().rank() != 0)
    throw ShapeError(fmt::format("{}Optimizer: the learning rate must be a scalar, got shape {}", name_,
                                 learning_rate_.shape().str()));
  if (!is_floating(learning_rate_.dtype()))
    throw DTypeError(fmt::format("{}Optimizer: the learning rate must be float32 or float64, got {}", name_,
                                 dtype_name(learning_rate_.dtype())));
  if (!learning_rate_.is_symbolic() && !(learning_rate_.item() >= 0 && std::isfinite(learning_rate_.item())))
    throw ValueError(fmt::format("{}Optimizer: invalid learning rate: {} (must be a finite number >= 0)", name_,
                                 learning_rate_.item()));
}

Optimizer::~Optimizer() = default;

GradsAndVars Optimizer::compute_gradients(const Tensor& loss, std::vector<Tensor> var_list) {
  Graph& g = graph_of("compute_gradients", loss);
  if (var_list.empty()) var_list = g.get_collection(GraphKeys::TRAINABLE_VARIABLES);
  if (var_list.empty())
    throw ValueError(fmt::format("{}Optimizer.compute_gradients: no variables to optimize (the graph of '{}' has "
                                 "no trainable variables)",
                                 name_, loss.impl()->name));
  for (const Tensor& v : var_list)
    if (!is_variable(v))
      throw ValueError(fmt::format("{}Optimizer.compute_gradients: '{}' in var_list is not a variable", name_,
                                   v.defined() && v.is_symbolic() ? v.impl()->name : std::string("(eager tensor)")));
  // TensorFlow gives None for a variable the loss does not depend on; so do we (an undefined
  // gradient), and apply_gradients skips it.
  std::vector<Tensor> connected;
  for (const Tensor& v : var_list)
    if (depends_on(*loss.impl()->node, v.impl()->node.get())) connected.push_back(v);
  GradsAndVars result;
  std::vector<Tensor> grads;
  if (!connected.empty()) grads = gradients({loss}, connected);
  std::size_t k = 0;
  for (const Tensor& v : var_list) {
    bool is_connected = k < connected.size() && connected[k].impl()->node == v.impl()->node;
    result.emplace_back(is_connected ? grads[k++] : Tensor(), v);
  }
  return result;
}

Tensor Optimizer::apply_gradients(const GradsAndVars& grads_and_vars, const Tensor& global_step,
                                  const std::string& name) {
  std::vector<Tensor> grads, vars;
  for (const auto& [grad, var] : grads_and_vars) {
    if (!is_variable(var))
      throw ValueError(fmt::format("{}Optimizer.apply_gradients: '{}' is not a variable", name_,
                                   var.defined() && var.is_symbolic() ? var.impl()->name : std::string("(eager)")));
    if (!grad.defined()) continue;
    if (grad.dtype() != var.dtype())
      throw DTypeError(fmt::format("{}Optimizer.apply_gradients: the gradient of '{}' has dtype {}, the variable {}",
                                   name_, var.impl()->name, dtype_name(grad.dtype()), dtype_name(var.dtype())));
    if (!is_floating(var.dtype()))
      throw DTypeError(fmt::format("{}Optimizer.apply_gradients: '{}' has dtype {}; only float variables can be "
                                   "trained",
                                   name_, var.impl()->name, dtype_name(var.dtype())));
    grads.push_back(grad);
    vars.push_back(var);
  }
  if (vars.empty()) {
    std::string names;
    for (const auto& [grad, var] : grads_and_vars) names += (names.empty() ? "" : ", ") + var.impl()->name;
    throw ValueError(fmt::format("{}Optimizer: No gradients provided for any variable, check your graph for ops that "
                                 "do not support gradients, between variables [{}] and the loss",
                                 name_, names));
  }
  Graph& g = graph_of("apply_gradients", vars[0]);
  Node* step_node = nullptr;
  if (global_step.defined()) {
    if (!is_variable(global_step))
      throw ValueError(fmt::format("{}Optimizer.apply_gradients: global_step must be a variable "
                                   "(train::get_or_create_global_step())",
                                   name_));
    step_node = global_step.impl()->node.get();
  }

  // Slots per variable and the shared variables, as variables of the graph.
  std::vector<std::shared_ptr<Node>> var_nodes;
  std::vector<std::vector<std::shared_ptr<Node>>> slot_nodes;
  for (const Tensor& v : vars) {
    const Node& vn = *v.impl()->node;
    var_nodes.push_back(v.impl()->node);
    std::vector<std::shared_ptr<Node>> mine;
    for (const Slot& s : slots()) {
      Tensor slot = graph::internal::variable_from_initializer(g, vn.name() + "/" + s.name, v.shape(), v.dtype(),
                                                               constant_initializer(s.initial_value), false, {});
      mine.push_back(slot.impl()->node);
    }
    slot_nodes.push_back(std::move(mine));
  }
  std::vector<std::shared_ptr<Node>> shared_nodes;
  for (const Slot& s : shared_variables()) {
    Tensor var = graph::internal::variable_from_initializer(g, s.name, Shape{}, vars[0].dtype(),
                                                            constant_initializer(s.initial_value), false, {});
    shared_nodes.push_back(var.impl()->node);
  }

  // As TensorFlow: a name scope "Adam/" holds the learning-rate constant, and the apply op takes
  // the scope's own name, "Adam".
  DefaultGraphScope in_graph(g);
  name_scope scope(name.empty() ? name_ : name);
  Tensor lr = learning_rate_;
  if (!lr.is_symbolic()) lr = g.add_constant(lr, "learning_rate");
  std::vector<Tensor> inputs{lr};
  inputs.insert(inputs.end(), grads.begin(), grads.end());
  std::shared_ptr<Node> step_shared = step_node ? step_node->shared_from_this() : nullptr;
  auto node = g.add_node(
      "Apply" + name_, "update", std::move(inputs), {},
      [var_nodes, slot_nodes, shared_nodes, step_shared, update = update(), finish = finish()](Args in,
                                                                                             RunContext& ctx) {
        NoGradGuard no_grad;
        const double lr = in[0].item();
        std::vector<Tensor> shared;
        for (const auto& n : shared_nodes) shared.push_back(ctx.session.value(*n));
        for (std::size_t i = 0; i < var_nodes.size(); ++i) {
          Tensor var = ctx.session.value(*var_nodes[i]);
          std::vector<Tensor> slots;
          for (const auto& n : slot_nodes[i]) slots.push_back(ctx.session.value(*n));
          update(var, in[1 + i], slots, shared, lr);
        }
        if (finish) finish(shared);
        if (step_shared) {
          Tensor step = ctx.session.value(*step_shared);
          add_(step, scalar(1.0, step.dtype()));
        }
        return std::vector<Tensor>{};
      });
  // For the written graph: the variables, slots and shared variables the update writes.
  std::vector<std::string> written;
  for (std::size_t i = 0; i < var_nodes.size(); ++i) {
    written.push_back(var_nodes[i]->name());
    for (const auto& n : slot_nodes[i]) written.push_back(n->name());
  }
  for (const auto& n : shared_nodes) written.push_back(n->name());
  if (step_node) written.push_back(step_node->name());
  node->attrs["variables"] = std::move(written);
  return named(scope.name(), node->as_operation());
}

Tensor Optimizer::minimize(const Tensor& loss, const Tensor& global_step, std::vector<Tensor> var_list,
                           const std::string& name) {
  return apply_gradients(compute_gradients(loss, std::move(var_list)), global_step, name);
}

// ---------------------------------------------------------------------------- the optimizers

GradientDescentOptimizer::GradientDescentOptimizer(double learning_rate)
    : GradientDescentOptimizer(scalar(learning_rate)) {}
GradientDescentOptimizer::GradientDescentOptimizer(const Tensor& learning_rate)
    : Optimizer("GradientDescent", learning_rate) {}

Optimizer::Update GradientDescentOptimizer::update() const {
  return [](Tensor& var, const Tensor& grad, std::vector<Tensor>&, std::vector<Tensor>&, double lr) {
    optim::gradient_descent_update(var, grad, {}, lr);
  };
}

MomentumOptimizer::MomentumOptimizer(double learning_rate, double momentum, bool use_nesterov)
    : MomentumOptimizer(scalar(learning_rate), momentum, use_nesterov) {}
MomentumOptimizer::MomentumOptimizer(const Tensor& learning_rate, double momentum, bool use_nesterov)
    : Optimizer("Momentum", learning_rate), momentum_(momentum), nesterov_(use_nesterov) {
  optim::detail::check_non_negative("MomentumOptimizer", "momentum", momentum);
}

Optimizer::Update MomentumOptimizer::update() const {
  optim::MomentumOptions options{.momentum = momentum_, .nesterov = nesterov_};
  return [options](Tensor& var, const Tensor& grad, std::vector<Tensor>& slots, std::vector<Tensor>&, double lr) {
    optim::MomentumState state;
    state.accum = slots[0];
    optim::momentum_update(var, grad, state, options, lr);
  };
}

AdamOptimizer::AdamOptimizer(double learning_rate, double beta1, double beta2, double epsilon)
    : AdamOptimizer(scalar(learning_rate), beta1, beta2, epsilon) {}
AdamOptimizer::AdamOptimizer(const Tensor& learning_rate, double beta1, double beta2, double epsilon)
    : AdamOptimizer("Adam", learning_rate, beta1, beta2, epsilon) {}
AdamOptimizer::AdamOptimizer(std::string name, const Tensor& learning_rate, double beta1, double beta2,
                             double epsilon)
    : Optimizer(std::move(name), learning_rate), beta1_(beta1), beta2_(beta2), epsilon_(epsilon) {
  const std::string who = this->name() + "Optimizer";
  optim::detail::check_unit_interval(who, "beta1", beta1);
  optim::detail::check_unit_interval(who, "beta2", beta2);
  optim::detail::check_non_negative(who, "epsilon", epsilon);
}

Optimizer::Update AdamOptimizer::update() const {
  optim::AdamOptions options{.beta1 = beta1_, .beta2 = beta2_, .epsilon = epsilon_};
  return [options](Tensor& var, const Tensor& grad, std::vector<Tensor>& slots, std::vector<Tensor>& shared,
                   double lr) {
    // TensorFlow's ApplyAdam: lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t) from the beta powers.
    const double lr_t = lr * std::sqrt(1.0 - shared[1].item()) / (1.0 - shared[0].item());
    optim::apply_adam(var, grad, slots[0], slots[1], lr_t, options);
  };
}

Optimizer::Finish AdamOptimizer::finish() const {
  return [beta1 = beta1_, beta2 = beta2_](std::vector<Tensor>& shared) {
    scale_(shared[0], beta1);
    scale_(shared[1], beta2);
  };
}

AdamWOptimizer::AdamWOptimizer(double weight_decay, double learning_rate, double beta1, double beta2, double epsilon)
    : AdamWOptimizer(weight_decay, scalar(learning_rate), beta1, beta2, epsilon) {}
AdamWOptimizer::AdamWOptimizer(double weight_decay, const Tensor& learning_rate, double beta1, double beta2,
                               double epsilon)
    : AdamOptimizer("AdamW", learning_rate, beta1, beta2, epsilon), weight_decay_(weight_decay) {
  optim::detail::check_non_negative("AdamWOptimizer", "weight_decay", weight_decay);
}

Optimizer::Update AdamWOptimizer::update() const {
  optim::AdamWOptions options{.beta1 = beta1_, .beta2 = beta2_, .epsilon = epsilon_, .weight_decay = weight_decay_};
  return [options](Tensor& var, const Tensor& grad, std::vector<Tensor>& slots, std::vector<Tensor>& shared,
                   double lr) {
    // The bias corrections 1 - beta^t from the beta powers, which finish() advances after each apply.
    optim::apply_adamw(var, grad, slots[0], slots[1], lr, 1.0 - shared[0].item(), 1.0 - shared[1].item(), options);
  };
}

RMSPropOptimizer::RMSPropOptimizer(double learning_rate, double decay, double momentum, double epsilon, bool centered)
    : RMSPropOptimizer(scalar(learning_rate), decay, momentum, epsilon, centered) {}
RMSPropOptimizer::RMSPropOptimizer(const Tensor& learning_rate, double decay, double momentum, double epsilon,
                                   bool centered)
    : Optimizer("RMSProp", learning_rate), decay_(decay), momentum_(momentum), epsilon_(epsilon), centered_(centered) {
  optim::detail::check_non_negative("RMSPropOptimizer", "decay", decay);
  optim::detail::check_non_negative("RMSPropOptimizer", "momentum", momentum);
  optim::detail::check_non_negative("RMSPropOptimizer", "epsilon", epsilon);
}

std::vector<Optimizer::Slot> RMSPropOptimizer::slots() const {
  std::vector<Slot> s{{"RMSProp", 1.0}, {"RMSProp_1", 0.0}};
  if (centered_) s.push_back({"RMSProp_2", 0.0});
  return s;
}

Optimizer::Update RMSPropOptimizer::update() const {
  optim::RMSPropOptions options{.decay = decay_, .momentum = momentum_, .epsilon = epsilon_, .centered = centered_};
  return [options](Tensor& var, const Tensor& grad, std::vector<Tensor>& slots, std::vector<Tensor>&, double lr) {
    optim::RMSPropState state;
    state.ms = slots[0];
    state.mom = slots[1];
    if (options.centered) state.mg = slots[2];
    optim::rmsprop_update(var, grad, state, options, lr);
  };
}

AdagradOptimizer::AdagradOptimizer(double learning_rate, double initial_accumulator_value)
    : AdagradOptimizer(scalar(learning_rate), initial_accumulator_value) {}
AdagradOptimizer::AdagradOptimizer(const Tensor& learning_rate, double initial_accumulator_value)
    : Optimizer("Adagrad", learning_rate), initial_accumulator_value_(initial_accumulator_value) {
  optim::detail::check_positive("AdagradOptimizer", "initial_accumulator_value", initial_accumulator_value);
}

Optimizer::Update AdagradOptimizer::update() const {
  optim::AdagradOptions options{.initial_accumulator_value = initial_accumulator_value_};
  return [options](Tensor& var, const Tensor& grad, std::vector<Tensor>& slots, std::vector<Tensor>&, double lr) {
    optim::AdagradState state;
    state.accum = slots[0];
    optim::adagrad_update(var, grad, state, options, lr);
  };
}

}  // namespace train
}  // namespace tapeflow
