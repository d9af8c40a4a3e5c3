// Session::run: plan the nodes the fetches need, then replay them in build order through the
// ops they came from.
#include "tapeflow/graph/session.h"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "graph/internal.h"
#include "tapeflow/autograd.h"
#include "tapeflow/ops/elementwise.h"

namespace tapeflow {

using graph::Node;
using graph::internal::compatible;

/// The nodes one kind of run (its fetches and fed tensors) executes, with where each value goes.
struct Session::Plan {
  struct Step {
    Node* node;
    std::vector<int> input_slots;  // -1: an absent (undefined) input
    int first_output_slot;
    bool create_graph = false;  // see RunContext
    bool retain_graph = false;
  };
  std::vector<Step> steps;
  std::vector<int> feed_slots;   // per feed, in the order given
  std::vector<int> fetch_slots;  // per fetch; -1 for an operation
  int num_slots = 0;
  bool records_tape = false;
  // Per slot: the value is an x of a gradients node, made a differentiable point when written.
  std::vector<char> differentiable;
};

namespace {

struct OutputRef {
  const Node* node;
  int index;
  bool operator<(const OutputRef& o) const { return node != o.node ? node < o.node : index < o.index; }
};

template <class E>
[[noreturn]] void rethrow_at(const E& e, const Node& n) {
  throw E(fmt::format("{}\n  [[node {} ({})]]", e.what(), n.name(), n.type()));
}

}  // namespace

// What the gradients nodes of a plan need: their xs become differentiable points (a fed
// placeholder's value is a leaf that requires grad, an intermediate keeps its record); a
// gradients node whose results another one differentiates (its ys depend on them, not through a
// fed tensor) records its backward pass (create_graph); when there are several, each keeps the
// records for the others (retain_graph).
void Session::plan_gradients(Plan& plan, const std::function<bool(const Tensor&)>& is_fed) {
  plan.differentiable.assign(static_cast<std::size_t>(plan.num_slots), 0);
  std::map<const Node*, Plan::Step*> gradient_steps;
  for (auto& step : plan.steps) {
    const auto& of = step.node->gradients_of;
    if (!of) continue;
    gradient_steps[step.node] = &step;
    for (std::size_t i = of->ys; i < of->ys + of->xs; ++i)
      if (step.input_slots[i] >= 0) plan.differentiable[static_cast<std::size_t>(step.input_slots[i])] = 1;
  }
  for (const auto& entry : gradient_steps) {
    const Node* node = entry.first;
    std::vector<const Node*> stack;
    std::vector<char> seen(plan.steps.empty() ? 0 : static_cast<std::size_t>(plan.steps.back().node->id()) + 1, 0);
    for (std::size_t i = 0; i < node->gradients_of->ys; ++i) {
      const Tensor& y = node->inputs()[i];
      if (y.defined() && !is_fed(y)) stack.push_back(y.impl()->node.get());
    }
    while (!stack.empty()) {
      const Node* n = stack.back();
      stack.pop_back();
      if (seen[static_cast<std::size_t>(n->id())]) continue;
      seen[static_cast<std::size_t>(n->id())] = 1;
      if (auto g = gradient_steps.find(n); g != gradient_steps.end()) g->second->create_graph = true;
      for (const Tensor& in : n->inputs())
        if (in.defined() && !is_fed(in)) stack.push_back(in.impl()->node.get());
    }
  }
  for (const auto& entry : gradient_steps) entry.second->retain_graph = gradient_steps.size() > 1;
}

namespace {

// A value the gradients of the run are taken with respect to: one that already requires grad is
// on the tape; another (a fed value, a constant, a non-trainable variable, what was computed from
// those) becomes a leaf that requires grad, sharing its data.
Tensor differentiable_point(const Tensor& value) {
  if (!value.defined() || value.requires_grad() || !is_floating(value.dtype())) return value;
  return value.detach().requires_grad_();
}

}  // namespace

Session::Session(Graph& graph) : graph_(&graph) {}
Session::~Session() = default;

const Session::Plan& Session::plan_for(const std::vector<Tensor>& fetches, const FeedDict& feeds) {
  std::vector<std::int64_t> key;
  key.reserve(2 * (fetches.size() + feeds.size()) + 1);
  for (const Tensor& f : fetches) {
    key.push_back(f.impl()->node->id());
    key.push_back(f.impl()->output_index);
  }
  key.push_back(-2);
  for (const auto& [t, v] : feeds) {
    key.push_back(t.impl()->node->id());
    key.push_back(t.impl()->output_index);
  }
  if (auto it = plans_.find(key); it != plans_.end()) return *it->second;

  auto plan = std::make_unique<Plan>();
  std::map<OutputRef, int> fed;  // -> feed index
  for (std::size_t i = 0; i < feeds.size(); ++i)
    fed[{feeds[i].first.impl()->node.get(), feeds[i].first.impl()->output_index}] = static_cast<int>(i);

  // Which nodes run: everything the fetches reach through inputs and control inputs, except
  // through fed tensors.
  const auto& nodes = graph_->nodes();
  std::vector<char> needed(nodes.size(), 0);
  std::vector<Node*> stack;
  auto want = [&](Node* n) {
    if (!needed[static_cast<std::size_t>(n->id())]) {
      needed[static_cast<std::size_t>(n->id())] = 1;
      stack.push_back(n);
    }
  };
  for (const Tensor& f : fetches)
    if (!fed.count({f.impl()->node.get(), f.impl()->output_index})) want(f.impl()->node.get());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Tensor& in : n->inputs())
      if (in.defined() && !fed.count({in.impl()->node.get(), in.impl()->output_index})) want(in.impl()->node.get());
    for (const auto& c : n->control_inputs()) want(c.get());
  }

  // Slots: feeds first, then every output of every needed node.
  int slot = 0;
  for (std::size_t i = 0; i < feeds.size(); ++i) plan->feed_slots.push_back(slot++);
  std::vector<int> first_slot(nodes.size(), -1);
  for (const auto& n : nodes) {
    if (!needed[static_cast<std::size_t>(n->id())]) continue;
    first_slot[static_cast<std::size_t>(n->id())] = slot;
    slot += n->num_outputs();
    plan->records_tape = plan->records_tape || n->gradients_of.has_value();
  }
  plan->num_slots = slot;
  auto slot_of = [&](const Tensor& t) {
    if (!t.defined()) return -1;
    auto f = fed.find({t.impl()->node.get(), t.impl()->output_index});
    if (f != fed.end()) return plan->feed_slots[static_cast<std::size_t>(f->second)];
    if (t.impl()->output_index < 0) return -1;
    return first_slot[static_cast<std::size_t>(t.impl()->node->id())] + t.impl()->output_index;
  };
  for (const auto& n : nodes) {
    if (!needed[static_cast<std::size_t>(n->id())]) continue;
    Plan::Step step{n.get(), {}, first_slot[static_cast<std::size_t>(n->id())]};
    for (const Tensor& in : n->inputs()) step.input_slots.push_back(slot_of(in));
    plan->steps.push_back(std::move(step));
  }
  for (const Tensor& f : fetches) plan->fetch_slots.push_back(slot_of(f));
  if (plan->records_tape)
    plan_gradients(*plan, [&fed](const Tensor& t) { return fed.count({t.impl()->node.get(), t.impl()->output_index}) > 0; });
  return *plans_.emplace(std::move(key), std::move(plan)).first->second;
}

std::vector<Tensor> Session::run(const std::vector<Tensor>& fetches, const FeedDict& feeds) {
  for (const Tensor& f : fetches) {
    if (!f.defined()) throw ValueError("Session::run: a fetch is an undefined tensor");
    if (!f.is_symbolic())
      throw ValueError(fmt::format("Session::run: fetch {} {} is an eager tensor, not a graph tensor; it already has "
                                   "its value",
                                   f.shape().str(), dtype_name(f.dtype())));
    if (f.impl()->node->graph() != graph_)
      throw ValueError(fmt::format("Session::run: fetch '{}' belongs to another graph than this session's; create "
                                   "the session on that graph (Session sess(graph))",
                                   f.impl()->name));
  }
  for (const auto& [key, value] : feeds) {
    if (!key.defined() || !key.is_symbolic())
      throw ValueError("Session::run: every feed key must be a graph tensor (a placeholder, usually)");
    const std::string& name = key.impl()->name;
    if (key.impl()->node->graph() != graph_)
      throw ValueError(fmt::format("Session::run: fed tensor '{}' belongs to another graph than this session's",
                                   name));
    if (key.impl()->output_index < 0)
      throw ValueError(fmt::format("Session::run: '{}' is an operation and cannot be fed", name));
    if (!value.defined()) throw ValueError(fmt::format("Session::run: the value fed to '{}' is undefined", name));
    if (value.is_symbolic())
      throw ValueError(fmt::format("Session::run: the value fed to '{}' is a graph tensor ('{}'); feed concrete "
                                   "values (run that tensor first)",
                                   name, value.impl()->name));
    if (value.dtype() != key.dtype())
      throw DTypeError(fmt::format("Session::run: cannot feed a value of dtype {} for tensor '{}', which has dtype "
                                   "{}; cast it first",
                                   dtype_name(value.dtype()), name, dtype_name(key.dtype())));
    if (!compatible(key.shape(), value.shape()))
      throw ShapeError(fmt::format("Session::run: cannot feed a value of shape {} for tensor '{}', which has shape {}",
                                   value.shape().str(), name, key.shape().str()));
  }
  const Plan& plan = plan_for(fetches, feeds);

  std::vector<Tensor> slots(static_cast<std::size_t>(plan.num_slots));
  for (std::size_t i = 0; i < feeds.size(); ++i) slots[static_cast<std::size_t>(plan.feed_slots[i])] = feeds[i].second;
  auto differentiable = [&plan](std::size_t slot) { return !plan.differentiable.empty() && plan.differentiable[slot]; };
  for (int s : plan.feed_slots)
    if (differentiable(static_cast<std::size_t>(s)))
      slots[static_cast<std::size_t>(s)] = differentiable_point(slots[static_cast<std::size_t>(s)]);
  std::optional<NoGradGuard> no_grad;
  if (!plan.records_tape) no_grad.emplace();
  // The hooks of graph tensors, put on their values for this run and taken off after it (a
  // variable's value outlives the run).
  struct RunHooks {
    std::vector<HookHandle> handles;
    ~RunHooks() {
      for (HookHandle& h : handles) h.remove();
    }
    void add(const graph::Node& node, std::size_t output, const Tensor& value) {
      if (!node.hooks || !value.defined() || !value.requires_grad()) return;
      for (const auto& entry : node.hooks->entries)
        if (entry.output == output) handles.push_back(value.register_hook(entry.fn));
    }
  } run_hooks;
  if (plan.records_tape)
    for (std::size_t i = 0; i < feeds.size(); ++i)
      run_hooks.add(*feeds[i].first.impl()->node, static_cast<std::size_t>(feeds[i].first.impl()->output_index),
                    slots[static_cast<std::size_t>(plan.feed_slots[i])]);
  std::vector<Tensor> inputs;
  for (const Plan::Step& step : plan.steps) {
    inputs.clear();
    for (int s : step.input_slots) inputs.push_back(s >= 0 ? slots[static_cast<std::size_t>(s)] : Tensor());
    graph::RunContext context{*this, *step.node, step.create_graph, step.retain_graph};
    std::vector<Tensor> outputs;
    try {
      outputs = step.node->kernel()(inputs, context);
    } catch (const ShapeError& e) {
      rethrow_at(e, *step.node);
    } catch (const DTypeError& e) {
      rethrow_at(e, *step.node);
    } catch (const ValueError& e) {
      rethrow_at(e, *step.node);
    } catch (const AutogradError& e) {
      rethrow_at(e, *step.node);
    } catch (const IOError& e) {
      rethrow_at(e, *step.node);
    } catch (const MemoryError& e) {
      rethrow_at(e, *step.node);
    }
    const auto& specs = step.node->outputs();
    if (outputs.size() != specs.size())
      throw Error(fmt::format("node '{}' ({}) produced {} values for its {} outputs", step.node->name(),
                              step.node->type(), outputs.size(), specs.size()));
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      if (outputs[i].dtype() != specs[i].dtype || !compatible(specs[i].shape, outputs[i].shape()))
        throw Error(fmt::format("node '{}' ({}) produced output {} of shape {} and dtype {}, but its static type is "
                                "{} {}",
                                step.node->name(), step.node->type(), i, outputs[i].shape().str(),
                                dtype_name(outputs[i].dtype()), specs[i].shape.str(), dtype_name(specs[i].dtype)));
      const auto slot = static_cast<std::size_t>(step.first_output_slot) + i;
      slots[slot] = differentiable(slot) ? differentiable_point(outputs[i]) : std::move(outputs[i]);
      if (plan.records_tape) run_hooks.add(*step.node, i, slots[slot]);
    }
  }

  std::vector<Tensor> results;
  results.reserve(fetches.size());
  for (int s : plan.fetch_slots) {
    if (s < 0) {
      results.emplace_back();
      continue;
    }
    const Tensor& value = slots[static_cast<std::size_t>(s)];
    // A fetched value is the caller's: copy what a variable's storage backs, cut the rest from
    // this run's tape.
    bool aliases_variable = false;
    for (const auto& [node, var] : variables_)
      if (var.impl()->storage == value.impl()->storage) aliases_variable = true;
    results.push_back(aliases_variable ? value.clone() : value.detach());
  }
  return results;
}

Tensor Session::run(const Tensor& fetch, const FeedDict& feeds) { return run(std::vector<Tensor>{fetch}, feeds)[0]; }

Tensor Session::value(const graph::Node& node) const {
  auto it = variables_.find(&node);
  if (it == variables_.end())
    throw ValueError(fmt::format("Attempting to use uninitialized value {} (shape {}, {}): run "
                                 "global_variables_initializer() (or the variable's initializer) first",
                                 node.name(), node.outputs()[0].shape.str(), dtype_name(node.outputs()[0].dtype)));
  return it->second;
}

Tensor Session::value(const Tensor& variable) const {
  const Node& n = graph::node_of("Session::value", variable);
  if (n.type() != "VariableV2") throw ValueError(fmt::format("Session::value: '{}' is not a variable", n.name()));
  return value(n);
}

bool Session::is_initialized(const Tensor& variable) const {
  return variables_.count(&graph::node_of("Session::is_initialized", variable)) > 0;
}

void Session::set_value(const Tensor& variable, const Tensor& value, bool validate_shape) {
  const Node& n = graph::node_of("Session::set_value", variable);
  if (n.type() != "VariableV2") throw ValueError(fmt::format("Session::set_value: '{}' is not a variable", n.name()));
  const graph::OutputSpec& spec = n.outputs()[0];
  if (!value.defined() || value.is_symbolic())
    throw ValueError(fmt::format("Session::set_value: the value for '{}' must be a concrete tensor", n.name()));
  if (value.dtype() != spec.dtype)
    throw DTypeError(fmt::format("Session::set_value: '{}' has dtype {}, the value {}", n.name(),
                                 dtype_name(spec.dtype), dtype_name(value.dtype())));
  if (validate_shape && value.shape() != spec.shape)
    throw ShapeError(fmt::format("Session::set_value: '{}' has shape {}, the value {}", n.name(), spec.shape.str(),
                                 value.shape().str()));
  auto it = variables_.find(&n);
  if (it != variables_.end() && it->second.shape() == value.shape()) {
    NoGradGuard no_grad;
    if (!it->second.is_same(value)) copy_(it->second, value.detach());
    return;
  }
  Tensor v = value.clone();
  auto trainable = n.attrs.find("trainable");
  if (trainable != n.attrs.end() && std::get<bool>(trainable->second) && is_floating(v.dtype())) v.requires_grad_();
  variables_[&n] = v;
}

}  // namespace tapeflow
