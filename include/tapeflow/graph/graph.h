#pragma once
/// Graph mode: TensorFlow 1.x's graph vocabulary on top of the same ops and tape.
///
/// A graph tensor (`Tensor::is_symbolic()`) is an output of a Node of a Graph: it has a static
/// shape, possibly with unknown dimensions (`[?,784]`), and a dtype, but no data. Every tapeflow
/// op accepts graph tensors: given one, it checks shapes and dtypes with its usual rules (an
/// error names the node and all shapes), adds a node to the graph and computes nothing.
/// `Session::run` later replays the nodes its fetches need, in build order, by calling the same
/// ops with concrete values, so a run is an eager pass that records a tape (see session.h).
///
///   tapeflow::Graph g;
///   auto scope = g.as_default();            // with g.as_default():
///   Tensor x = tapeflow::placeholder(float32, {-1, 784}, "images");
///   {
///     tapeflow::name_scope hidden("hidden1");
///     Tensor w = tapeflow::Variable(truncated_normal({784, 128}, 0, 0.036), "weights");
///     Tensor h = relu(matmul(x, w));     // node "hidden1/Relu", shape [?,128]
///   }
///
/// Node names follow TensorFlow exactly: an op takes its type's default name ("MatMul", "add")
/// under the current name scope, made unique with a suffix ("MatMul_1", scope "hidden1_1").
///
/// An *operation* (an op run for its effect: an initializer, a train op, `group`) is a Tensor
/// too, with no output: `is_operation()` is true and running it returns an undefined Tensor.
/// So fetches, collections and control dependencies are all plain `std::vector<Tensor>`.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "tapeflow/attr.h"
#include "tapeflow/tensor.h"

namespace tapeflow {

class Session;
class Graph;

namespace graph {

class Node;

/// What a node's kernel gets at run time besides its inputs.
struct RunContext {
  Session& session;
  const Node& node;
  /// For a gradients node: its results are differentiated again in this run (a gradients node
  /// downstream depends on them), so its backward pass must record itself (create_graph).
  bool create_graph = false;
  /// For a gradients node: another backward pass of this run goes through the same records
  /// afterwards, so they must keep what they saved (retain_graph).
  bool retain_graph = false;
};

/// A node's run-time behaviour: outputs from concrete inputs (one per output of the node).
using Kernel = std::function<std::vector<Tensor>(std::span<const Tensor> inputs, RunContext& context)>;

/// The static type of one output (the door's, in core).
using tapeflow::OutputSpec;

/// One node of a Graph (TensorFlow's tf.Operation). Immutable once added, except its name
/// (see `named`).
class Node : public std::enable_shared_from_this<Node> {
 public:
  Node(Graph* graph, std::int64_t id, std::string type, std::string name, std::vector<Tensor> inputs,
       std::vector<std::shared_ptr<Node>> control_inputs, std::vector<OutputSpec> outputs, Kernel kernel);

  /// Unique, scoped: "hidden1/MatMul".
  const std::string& name() const { return name_; }
  /// The op type: "MatMul", "Placeholder", "VariableV2".
  const std::string& type() const { return type_; }
  /// Position in build order (inputs always come earlier).
  std::int64_t id() const { return id_; }
  /// The graph, or nullptr once that graph is destroyed.
  Graph* graph() const { return graph_; }
  const std::vector<Tensor>& inputs() const { return inputs_; }
  const std::vector<std::shared_ptr<Node>>& control_inputs() const { return control_inputs_; }
  const std::vector<OutputSpec>& outputs() const { return outputs_; }
  int num_outputs() const { return static_cast<int>(outputs_.size()); }
  /// Output i as a graph tensor ("hidden1/MatMul:0").
  Tensor output(int index = 0);
  /// The node as an operation to run.
  Tensor as_operation();
  const Kernel& kernel() const { return kernel_; }

  /// For a gradients node (whose run needs the tape recorded): its inputs are `ys` tensors, then
  /// `xs` tensors, which the Session makes differentiable points of the run (a fed placeholder or
  /// a constant gets a gradient too), then the ys' gradients if given. Empty for other nodes.
  struct GradientsOf {
    std::size_t ys = 0, xs = 0;
  };
  std::optional<GradientsOf> gradients_of;
  /// Hooks registered on its outputs (Tensor::register_hook on a graph tensor): a Session run
  /// that records the tape puts them on the outputs' values for that run.
  std::shared_ptr<autograd::HookList> hooks;
  /// Extra information for messages and for writing the graph (e.g. a variable's initializer;
  /// "variables": the comma-separated names of the variables an update node writes).
  AttrMap attrs;

 private:
  friend class tapeflow::Graph;
  Graph* graph_;
  std::int64_t id_;
  std::string type_, name_;
  std::vector<Tensor> inputs_;
  std::vector<std::shared_ptr<Node>> control_inputs_;
  std::vector<OutputSpec> outputs_;
  Kernel kernel_;
  std::vector<std::pair<std::string, int>> reserved_;  // names_in_use entries this name set
};

/// The node behind a graph tensor or operation; ValueError naming `who` for an eager tensor.
Node& node_of(const char* who, const Tensor& t);

}  // namespace graph

/// True when `t` is an operation handle (a node run for its effect, no output).
bool is_operation(const Tensor& t);

/// TensorFlow's standard collection keys (tf.GraphKeys).
namespace GraphKeys {
inline const std::string GLOBAL_VARIABLES = "variables";
inline const std::string TRAINABLE_VARIABLES = "trainable_variables";
inline const std::string LOCAL_VARIABLES = "local_variables";
inline const std::string MODEL_VARIABLES = "model_variables";
inline const std::string SUMMARIES = "summaries";
inline const std::string UPDATE_OPS = "update_ops";
inline const std::string REGULARIZATION_LOSSES = "regularization_losses";
inline const std::string LOSSES = "losses";
inline const std::string GLOBAL_STEP = "global_step";
inline const std::string TRAIN_OP = "train_op";
inline const std::string INIT_OP = "init_op";
}  // namespace GraphKeys

class DefaultGraphScope;

/// A dataflow graph (tf.Graph): nodes in build order, name scopes, collections and the
/// variables created by get_variable. Not copyable or movable (its nodes point back to it).
class Graph {
 public:
  Graph();
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  /// Makes this the default graph while the returned scope lives (`with g.as_default():`).
  [[nodiscard]] DefaultGraphScope as_default();

  /// Every node, in build order.
  const std::vector<std::shared_ptr<graph::Node>>& nodes() const { return nodes_; }
  /// The node called `name`; ValueError when there is none.
  std::shared_ptr<graph::Node> get_operation_by_name(const std::string& name) const;
  /// "name:i" -> output i of node `name`; ValueError when there is none.
  Tensor get_tensor_by_name(const std::string& name) const;

  /// Appends `value` (a graph tensor or operation of this graph) to collection `key`.
  void add_to_collection(const std::string& key, const Tensor& value);
  /// The collection's items in insertion order (empty when it does not exist); with `scope`,
  /// only the items whose name starts with it (tf.get_collection's filter).
  std::vector<Tensor> get_collection(const std::string& key, const std::string& scope = "") const;
  /// The keys of the non-empty collections, sorted.
  std::vector<std::string> get_all_collection_keys() const;
  /// Removes every item of collection `key`.
  void clear_collection(const std::string& key);

  /// TensorFlow's Graph.unique_name: `name` under the current name scope, with "_1", "_2"...
  /// appended when taken (case-insensitively, as TensorFlow).
  std::string unique_name(const std::string& name, bool mark_as_used = true);
  /// The current name scope ("" at the top, else "hidden1" without a trailing slash).
  const std::string& current_name_scope() const { return name_stack_; }

  /// Adds a node named unique_name(default_name) with the current control dependencies. Graph
  /// tensors among `inputs` must belong to this graph (ValueError otherwise); eager tensors are
  /// turned into Const nodes first.
  std::shared_ptr<graph::Node> add_node(const std::string& type, const std::string& default_name,
                                        std::vector<Tensor> inputs, std::vector<graph::OutputSpec> outputs,
                                        graph::Kernel kernel);
  /// A "Const" node named unique_name(name) whose value is `value` (an eager tensor, copied).
  Tensor add_constant(const Tensor& value, const std::string& name = "Const");
  /// Renames the node added last (see tapeflow::named).
  void rename_last(graph::Node& node, const std::string& name);

  // Name scope, control dependency and variable-scope stacks (used by the RAII scopes).
  struct VariableScopeState {
    std::string name;  // full variable-scope name ("conv1", "net/conv1")
    bool reuse = false;
    std::function<Tensor(const Shape&, DType)> initializer;
    std::function<Tensor(const Tensor&)> regularizer;
  };
  std::vector<VariableScopeState>& variable_scopes() { return variable_scopes_; }
  std::map<std::string, Tensor>& variable_store() { return variable_store_; }
  std::string swap_name_scope(std::string scope) {
    std::swap(scope, name_stack_);
    return scope;
  }
  std::vector<std::vector<std::shared_ptr<graph::Node>>>& control_dependency_stack() { return control_stack_; }

 private:
  std::string unique_name(const std::string& name, bool mark_as_used,
                          std::vector<std::pair<std::string, int>>* touched);
  std::vector<std::shared_ptr<graph::Node>> nodes_;
  std::unordered_map<std::string, int> names_in_use_;
  std::unordered_map<std::string, graph::Node*> by_name_;
  std::string name_stack_;
  std::vector<std::vector<std::shared_ptr<graph::Node>>> control_stack_;
  std::map<std::string, std::vector<Tensor>> collections_;
  std::vector<VariableScopeState> variable_scopes_;
  std::map<std::string, Tensor> variable_store_;
};

/// RAII: makes a graph the default one of this thread for its lifetime.
class DefaultGraphScope {
 public:
  explicit DefaultGraphScope(Graph& g);
  ~DefaultGraphScope();
  DefaultGraphScope(const DefaultGraphScope&) = delete;
  DefaultGraphScope& operator=(const DefaultGraphScope&) = delete;

 private:
  Graph* previous_;
};

/// The innermost graph made default by `as_default()`, else the process's global graph.
Graph& get_default_graph();
/// Replaces the global default graph by an empty one (tf.reset_default_graph). Graph tensors
/// of the old one stay valid handles but can no longer be run or built on.
void reset_default_graph();

/// RAII tf.name_scope: nodes built while it lives are named "<scope>/...". A second scope of the
/// same name becomes "<name>_1"; a name ending in "/" re-enters that exact scope; "" resets to
/// the top. The scope belongs to the default graph.
class name_scope {
 public:
  explicit name_scope(const std::string& name);
  ~name_scope();
  name_scope(const name_scope&) = delete;
  name_scope& operator=(const name_scope&) = delete;
  /// The scope's full name with a trailing "/" ("hidden1/"), or "" for the top.
  const std::string& name() const { return name_; }

 private:
  Graph& graph_;
  std::string name_, previous_;
};

/// RAII tf.control_dependencies: nodes built while it lives run only after `inputs` (graph
/// tensors or operations) have run.
class control_dependencies {
 public:
  explicit control_dependencies(const std::vector<Tensor>& inputs);
  ~control_dependencies();
  control_dependencies(const control_dependencies&) = delete;
  control_dependencies& operator=(const control_dependencies&) = delete;

 private:
  Graph& graph_;
};

/// tf.add_to_collection, tf.add_to_collections and tf.get_collection (on the value's graph /
/// the default graph).
void add_to_collection(const std::string& key, const Tensor& value);
void add_to_collections(const std::vector<std::string>& keys, const Tensor& value);
std::vector<Tensor> get_collection(const std::string& key, const std::string& scope = "");

/// Gives the node of `t` (the last node built, not yet used by another) the name `name` under
/// the current scope, as TensorFlow's `name=` argument: named("l1", reduce_sum(abs(w))).
/// A name ending in "/" (a name_scope's name()) is used exactly, without the slash.
/// Returns t. ValueError when t is not the last node of its graph. An eager tensor has no node:
/// it is returned as it is (as TensorFlow's eager mode ignores names).
Tensor named(const std::string& name, const Tensor& t);

}  // namespace tapeflow
