#pragma once
/// Session: runs a graph (tf.Session). It owns the values of the graph's variables.
///
///   tapeflow::Session sess(g);
///   sess.run(tapeflow::global_variables_initializer());
///   auto out = sess.run({train_op, loss}, {{images, batch.images}, {labels, batch.labels}});
///   double loss_value = out[1].item();
///
/// `run` executes only the nodes its fetches need (through inputs and control dependencies, and
/// stopping at fed tensors), each once, in build order, by calling the nodes' ops on concrete
/// values. When a fetch needs gradients (a train op), that pass records the tape and the
/// gradient nodes call backward on it; otherwise it runs with recording off.
#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "tapeflow/graph/graph.h"
#include "tapeflow/tensor.h"

namespace tapeflow {

/// Values fed to graph tensors (usually placeholders) for one run: {{images, x}, {labels, y}}.
using FeedDict = std::vector<std::pair<Tensor, Tensor>>;

class Session {
 public:
  /// A session on `graph` (the default graph when omitted). The graph must outlive it.
  explicit Session(Graph& graph = get_default_graph());
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// Runs what `fetches` need and returns their values, in order (an undefined Tensor for an
  /// operation). Errors: a fetch from another graph, a needed placeholder left unfed (naming it,
  /// its dtype and shape), a feed of the wrong shape or dtype, an uninitialized variable; an
  /// op failing at run time is reported with the node's name.
  std::vector<Tensor> run(const std::vector<Tensor>& fetches, const FeedDict& feeds = {});
  /// One fetch.
  Tensor run(const Tensor& fetch, const FeedDict& feeds = {});

  Graph& graph() const { return *graph_; }

  /// The value of a variable in this session (shares its data); ValueError when uninitialized.
  Tensor value(const Tensor& variable) const;
  /// The same for a variable's node (used by the kernels of variables and optimizers).
  Tensor value(const graph::Node& variable) const;
  /// True once the variable has a value in this session.
  bool is_initialized(const Tensor& variable) const;
  /// Sets a variable's value (the variable's dtype; its shape unless !validate_shape).
  void set_value(const Tensor& variable, const Tensor& value, bool validate_shape = true);

 private:
  struct Plan;
  const Plan& plan_for(const std::vector<Tensor>& fetches, const FeedDict& feeds);
  static void plan_gradients(Plan& plan, const std::function<bool(const Tensor&)>& is_fed);
  Graph* graph_;
  std::map<const graph::Node*, Tensor> variables_;
  std::map<std::vector<std::int64_t>, std::unique_ptr<Plan>> plans_;
};

}  // namespace tapeflow
