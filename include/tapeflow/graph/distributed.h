#pragma once
/// Data-parallel training in graph mode (Horovod's TensorFlow 1.x API): the gradients are
/// averaged over the ranks inside the train op, by a "HorovodGroupedAllreduce" node that
/// Session::run replays like any op (see tapeflow/distributed.h for init, ranks and failure).
///
///   tapeflow::train::DistributedOptimizer opt(std::make_unique<train::AdamOptimizer>(1e-3));
///   Tensor train_op = opt.minimize(loss, train::get_or_create_global_step());
///   Tensor bcast = distributed::broadcast_global_variables(0);
///   Session sess;
///   sess.run(global_variables_initializer());
///   sess.run(bcast);                               // every rank starts from rank 0's weights
///   for (...) sess.run(train_op, {{x, shard_x}, {y, shard_y}});
///
/// distributed::allreduce and distributed::grouped_allreduce also take graph tensors (e.g. an
/// accuracy averaged over the ranks: a "HorovodAllreduce" node).
#include <memory>
#include <string>
#include <vector>

#include "tapeflow/distributed.h"
#include "tapeflow/graph/train.h"

namespace tapeflow::distributed {

/// hvd.broadcast_global_variables: an operation ("HorovodBroadcast", named
/// "broadcast_global_variables") that, when run, overwrites the session's value of every global
/// variable of the default graph (as they are now) with root's. Run it after the initializer.
/// ValueError when the graph has no global variables or root is outside [0, size()).
Tensor broadcast_global_variables(int root = 0);

}  // namespace tapeflow::distributed

namespace tapeflow::train {

/// Wraps a graph optimizer (any train::Optimizer) so that apply_gradients first averages the
/// gradients over the ranks (hvd.DistributedOptimizer): one "HorovodGroupedAllreduce" node, in
/// the name scope "Distributed<inner name>", with the gradients packed into fused buffers (see
/// distributed::kDefaultFusionThreshold), then the inner optimizer's apply node. Every way to an
/// update goes through apply_gradients (minimize, compute_gradients then apply_gradients,
/// gradients() then apply_gradients), so each is averaged; to clip averaged gradients, call
/// distributed::grouped_allreduce yourself and the inner optimizer's apply_gradients.
/// Variables without a gradient (undefined in grads_and_vars) are skipped, as by the inner
/// optimizer; the graph is the same on every rank, so they are the same everywhere.
///
/// It is a train::Optimizer, so it goes wherever one is expected (code building a train op from
/// a `train::Optimizer&`): minimize (the base's) calls the two overrides below. name() is
/// "Distributed" + the inner optimizer's name ("DistributedAdam").
class DistributedOptimizer : public Optimizer {
 public:
  /// Wraps `inner`, which must outlive this object's use (the nodes built do not need it).
  explicit DistributedOptimizer(Optimizer& inner, distributed::DistributedOptions options = {});
  /// Wraps and owns `inner` (ValueError when null).
  explicit DistributedOptimizer(std::unique_ptr<Optimizer> inner, distributed::DistributedOptions options = {});
  ~DistributedOptimizer() override;

  /// The inner optimizer's gradients (not averaged yet).
  GradsAndVars compute_gradients(const Tensor& loss, std::vector<Tensor> var_list = {}) override;
  /// The gradients averaged over the ranks, then the inner optimizer's apply_gradients.
  Tensor apply_gradients(const GradsAndVars& grads_and_vars, const Tensor& global_step = Tensor(),
                         const std::string& name = "") override;

  Optimizer& inner() { return *inner_; }

 protected:
  /// Not used: apply_gradients hands the update to the inner optimizer (no slots; update()
  /// throws if called).
  std::vector<Slot> slots() const override { return {}; }
  Update update() const override;

 private:
  std::unique_ptr<Optimizer> owned_;
  Optimizer* inner_;
  distributed::DistributedOptions options_;
};

}  // namespace tapeflow::train
