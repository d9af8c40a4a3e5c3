// Graph mode on MPI: broadcast_global_variables and the wrapped graph optimizer, whose averaging
// is a HorovodGroupedAllreduce node (distributed.cpp's grouped_allreduce on graph tensors).
#include "tapeflow/graph/distributed.h"

#include <fmt/format.h>

#include "tapeflow/graph/session.h"
#include "tapeflow/graph/variables.h"

namespace tapeflow {

namespace distributed {

Tensor broadcast_global_variables(int root) {
  if (root < 0)
    throw ValueError(fmt::format("distributed::broadcast_global_variables: root {} is out of range (ranks start at 0)",
                                 root));
  std::vector<Tensor> vars = global_variables();
  if (vars.empty())
    throw ValueError("distributed::broadcast_global_variables: the default graph has no global variables; build the "
                     "model (and the train op, whose slots are variables too) first");
  Graph& g = get_default_graph();
  std::vector<std::shared_ptr<graph::Node>> nodes;
  for (const Tensor& v : vars) nodes.push_back(v.impl()->node);
  auto node = g.add_node("HorovodBroadcast", "broadcast_global_variables", {}, {},
                         [nodes, root](std::span<const Tensor>, graph::RunContext& ctx) {
                           std::vector<std::pair<std::string, Tensor>> values;
                           for (const auto& n : nodes) values.emplace_back(n->name(), ctx.session.value(*n));
                           broadcast(values, root);
                           return std::vector<Tensor>{};
                         });
  std::vector<std::string> names;
  for (const auto& n : nodes) names.push_back(n->name());
  node->attrs["variables"] = names;
  return node->as_operation();
}

}  // namespace distributed

namespace train {

DistributedOptimizer::DistributedOptimizer(Optimizer& inner, distributed::DistributedOptions options)
    : Optimizer("Distributed" + inner.name()), inner_(&inner), options_(options) {
  if (options_.op != distributed::ReduceOp::average && options_.op != distributed::ReduceOp::sum)
    throw ValueError(fmt::format("{}: gradients are combined with ReduceOp::average or ReduceOp::sum, got "
                                 "ReduceOp::{}",
                                 name(), distributed::reduce_op_name(options_.op)));
}

DistributedOptimizer::DistributedOptimizer(std::unique_ptr<Optimizer> inner, distributed::DistributedOptions options)
    : DistributedOptimizer(inner ? *inner : throw ValueError("DistributedOptimizer: the optimizer to wrap is null"),
                           options) {
  owned_ = std::move(inner);
}

DistributedOptimizer::~DistributedOptimizer() = default;

GradsAndVars DistributedOptimizer::compute_gradients(const Tensor& loss, std::vector<Tensor> var_list) {
  return inner_->compute_gradients(loss, std::move(var_list));
}

Tensor DistributedOptimizer::apply_gradients(const GradsAndVars& grads_and_vars, const Tensor& global_step,
                                             const std::string& name) {
  const std::string& who = Optimizer::name();  // the parameter `name` hides name()
  std::vector<Tensor> grads;
  std::vector<std::size_t> where;
  for (std::size_t i = 0; i < grads_and_vars.size(); ++i) {
    const Tensor& grad = grads_and_vars[i].first;
    if (!grad.defined()) continue;
    if (!grad.is_symbolic())
      throw ValueError(fmt::format("{}.apply_gradients: the gradient of variable {} is an eager tensor; pass graph "
                                   "tensors (compute_gradients, gradients())",
                                   who, i));
    grads.push_back(grad);
    where.push_back(i);
  }
  GradsAndVars averaged = grads_and_vars;
  if (!grads.empty()) {
    Graph* g = graph::node_of("DistributedOptimizer", grads[0]).graph();
    if (!g) throw ValueError(fmt::format("{}.apply_gradients: the graph of the gradients no longer exists", who));
    DefaultGraphScope in_graph(*g);
    name_scope scope(who);
    std::vector<Tensor> reduced = distributed::grouped_allreduce(grads, options_.op, options_.fusion_threshold);
    for (std::size_t k = 0; k < where.size(); ++k) averaged[where[k]].first = reduced[k];
  }
  // No gradient at all: the inner optimizer reports it.
  return inner_->apply_gradients(averaged, global_step, name);
}

Optimizer::Update DistributedOptimizer::update() const {
  throw Error(
      fmt::format("{}: update() is not used: apply_gradients hands the update to the inner optimizer", name()));
}

}  // namespace train

}  // namespace tapeflow
