// DistributedOptimizer: the gradients averaged over the ranks (fused allreduces), then the inner
// optimizer's step.
#include <fmt/format.h>

#include "distributed/comm.h"
#include "distributed/internal.h"
#include "tapeflow/autograd.h"
#include "tapeflow/distributed.h"
#include "tapeflow/optim/optimizer.h"

namespace tapeflow::distributed {

namespace {

void check_options(const DistributedOptions& options) {
  if (options.op != ReduceOp::average && options.op != ReduceOp::sum)
    throw ValueError(fmt::format("DistributedOptimizer: gradients are combined with ReduceOp::average or "
                                 "ReduceOp::sum, got ReduceOp::{}",
                                 reduce_op_name(options.op)));
}

optim::Optimizer& not_null(const std::unique_ptr<optim::Optimizer>& inner) {
  if (!inner) throw ValueError("DistributedOptimizer: the optimizer to wrap is null");
  return *inner;
}

}  // namespace

// The base holds handles to the inner optimizer's parameters (the same tensors), so parameters()
// is theirs; everything else that has state is handed to the inner optimizer.
DistributedOptimizer::DistributedOptimizer(optim::Optimizer& inner, DistributedOptions options)
    : optim::Optimizer(inner.parameters(), fmt::format("DistributedOptimizer({})", inner.name()), inner.lr()),
      inner_(&inner),
      options_(options) {
  check_options(options_);
}

DistributedOptimizer::DistributedOptimizer(std::unique_ptr<optim::Optimizer> inner, DistributedOptions options)
    : DistributedOptimizer(not_null(inner), options) {
  owned_ = std::move(inner);
}

DistributedOptimizer::~DistributedOptimizer() = default;

void DistributedOptimizer::zero_grad() { inner_->zero_grad(); }

void DistributedOptimizer::synchronize() {
  const std::string& who = name();
  internal::require_init(who.c_str());
  if (comm::size() == 1) {
    synchronized_ = true;
    return;
  }
  const std::vector<Tensor>& params = inner_->parameters();
  if (!checked_) {
    internal::check_same_across_ranks(who, internal::entries_of(params));
    checked_ = true;
  }

  // Which parameters have a gradient on some rank (one byte each, max over the ranks). A
  // gradient that does not fit its parameter is this rank's own error: report it before the
  // exchange (the job then ends, see init()).
  std::vector<std::uint8_t> has_grad(params.size(), 0);
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Tensor g = params[i].grad();
    if (!g.defined()) continue;
    if (g.dtype() != params[i].dtype())
      throw DTypeError(fmt::format("{}: the gradient of parameter {} is {} {} but the parameter is {} {}; a gradient "
                                   "must have its parameter's dtype",
                                   who, i, dtype_name(g.dtype()), g.shape().str(), dtype_name(params[i].dtype()),
                                   params[i].shape().str()));
    if (g.shape() != params[i].shape())
      throw ShapeError(fmt::format("{}: the gradient of parameter {} has shape {} but the parameter {}; a gradient "
                                   "must have its parameter's shape",
                                   who, i, g.shape().str(), params[i].shape().str()));
    has_grad[i] = 1;
  }
  const std::int64_t before = distributed::allreduce_calls();
  comm::allreduce(has_grad.data(), static_cast<std::int64_t>(has_grad.size()), uint8, ReduceOp::max);
  allreduce_calls_ += distributed::allreduce_calls() - before;

  // Ranks without a gradient for a parameter that others have contribute zeros.
  std::vector<std::size_t> index;
  std::vector<Tensor> grads;
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (!has_grad[i]) continue;
    const Tensor g = params[i].grad();
    index.push_back(i);
    grads.push_back(g.defined() ? g : zeros(params[i].shape(), params[i].dtype()));
  }
  // In place: the averages overwrite the gradients (as DistributedDataParallel's), so a large
  // gradient is never copied.
  std::vector<Tensor> reduced = internal::fused_allreduce(grads, options_.op, options_.fusion_threshold,
                                                          &allreduce_calls_, /*in_place=*/true);
  for (std::size_t k = 0; k < index.size(); ++k) {
    Tensor p = params[index[k]];
    p.set_grad(reduced[k]);
  }
  synchronized_ = true;
}

void DistributedOptimizer::step() {
  if (!synchronized_) synchronize();
  synchronized_ = false;
  inner_->step();
}

double DistributedOptimizer::lr() const { return inner_->lr(); }
void DistributedOptimizer::set_lr(double lr) { inner_->set_lr(lr); }
const std::vector<optim::Optimizer::Group>& DistributedOptimizer::param_groups() const {
  return inner_->param_groups();
}
double DistributedOptimizer::group_lr(std::size_t group) const { return inner_->group_lr(group); }
void DistributedOptimizer::set_group_lr(std::size_t group, double lr) { inner_->set_group_lr(group, lr); }
optim::NamedTensors DistributedOptimizer::state_dict() const { return inner_->state_dict(); }
void DistributedOptimizer::load_state_dict(const optim::NamedTensors& state) { inner_->load_state_dict(state); }

const optim::OptimizerState* DistributedOptimizer::state_at(std::size_t index) const {
  return inner_->state<optim::OptimizerState>(index);
}

void DistributedOptimizer::update(std::size_t, Tensor&, const Tensor&) {
  throw Error(fmt::format("{}: update() is not used: step() hands every update to the inner optimizer", name()));
}

}  // namespace tapeflow::distributed
