// Graph, Node, name scopes, control dependencies, collections, and the graph side of the door
// (the node builder it calls when an op's input is a graph tensor).
#include "tapeflow/graph/graph.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "autograd/door.h"

namespace tapeflow {

namespace graph {

Node::Node(Graph* graph, std::int64_t id, std::string type, std::string name, std::vector<Tensor> inputs,
           std::vector<std::shared_ptr<Node>> control_inputs, std::vector<OutputSpec> outputs, Kernel kernel)
    : graph_(graph),
      id_(id),
      type_(std::move(type)),
      name_(std::move(name)),
      inputs_(std::move(inputs)),
      control_inputs_(std::move(control_inputs)),
      outputs_(std::move(outputs)),
      kernel_(std::move(kernel)) {}

namespace {
Tensor handle(std::shared_ptr<Node> node, int index, const Shape& shape, DType dtype, std::string name) {
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = dtype;
  impl->name = std::move(name);
  // Every handle of the node's outputs shares its hook list (Tensor::register_hook).
  if (!node->hooks) node->hooks = std::make_shared<autograd::HookList>();
  impl->hooks = node->hooks;
  impl->node = std::move(node);
  impl->output_index = index;
  return Tensor(std::move(impl));
}
}  // namespace

Tensor Node::output(int index) {
  if (index < 0 || index >= num_outputs())
    throw ValueError(fmt::format("node '{}' ({}) has {} output(s); there is no output {}", name_, type_,
                                 num_outputs(), index));
  const OutputSpec& o = outputs_[static_cast<std::size_t>(index)];
  return handle(shared_from_this(), index, o.shape, o.dtype, fmt::format("{}:{}", name_, index));
}

Tensor Node::as_operation() { return handle(shared_from_this(), -1, Shape{}, float32, name_); }

Node& node_of(const char* who, const Tensor& t) {
  if (!t.defined()) throw ValueError(fmt::format("{}: got an undefined tensor", who));
  if (!t.is_symbolic())
    throw ValueError(fmt::format("{}: expected a graph tensor or operation, got an eager tensor {} {}", who,
                                 t.shape().str(), dtype_name(t.dtype())));
  return *t.impl()->node;
}

}  // namespace graph

bool is_operation(const Tensor& t) { return t.defined() && t.impl()->node && t.impl()->output_index < 0; }

using graph::Node;

// ---------------------------------------------------------------------------- default graph

namespace {
thread_local Graph* default_graph_override = nullptr;

std::unique_ptr<Graph>& global_graph() {
  static std::unique_ptr<Graph> g = std::make_unique<Graph>();
  return g;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Graph& graph_of(const Tensor& t, const char* who) {
  Node& n = graph::node_of(who, t);
  if (!n.graph())
    throw ValueError(fmt::format("{}: '{}' belongs to a Graph that no longer exists", who, t.impl()->name));
  return *n.graph();
}

}  // namespace

Graph& get_default_graph() { return default_graph_override ? *default_graph_override : *global_graph(); }

void reset_default_graph() {
  if (default_graph_override)
    throw ValueError("reset_default_graph: cannot reset the global graph while another graph is the default "
                     "(inside a Graph::as_default() scope)");
  global_graph() = std::make_unique<Graph>();
}

DefaultGraphScope::DefaultGraphScope(Graph& g) : previous_(default_graph_override) { default_graph_override = &g; }
DefaultGraphScope::~DefaultGraphScope() { default_graph_override = previous_; }

// ---------------------------------------------------------------------------- Graph

// Graph::Graph() is below, with the door's builder it installs.

Graph::~Graph() {
  for (auto& n : nodes_) n->graph_ = nullptr;
}

DefaultGraphScope Graph::as_default() { return DefaultGraphScope(*this); }

std::shared_ptr<Node> Graph::get_operation_by_name(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end())
    throw ValueError(fmt::format("get_operation_by_name: the graph has no node called '{}'", name));
  return it->second->shared_from_this();
}

Tensor Graph::get_tensor_by_name(const std::string& name) const {
  auto colon = name.rfind(':');
  if (colon == std::string::npos)
    throw ValueError(fmt::format("get_tensor_by_name: '{}' is not a tensor name; tensor names look like "
                                 "'<op name>:<output index>' (e.g. 'hidden1/Relu:0')",
                                 name));
  int index = -1;
  try {
    index = std::stoi(name.substr(colon + 1));
  } catch (const std::exception&) {
    throw ValueError(fmt::format("get_tensor_by_name: '{}' has no valid output index after ':'", name));
  }
  return get_operation_by_name(name.substr(0, colon))->output(index);
}

void Graph::add_to_collection(const std::string& key, const Tensor& value) {
  Graph& owner = graph_of(value, "add_to_collection");
  if (&owner != this)
    throw ValueError(fmt::format("add_to_collection('{}'): '{}' belongs to another graph", key, value.impl()->name));
  collections_[key].push_back(value);
}

std::vector<Tensor> Graph::get_collection(const std::string& key, const std::string& scope) const {
  auto it = collections_.find(key);
  if (it == collections_.end()) return {};
  if (scope.empty()) return it->second;
  std::vector<Tensor> out;
  for (const Tensor& t : it->second)
    if (t.impl()->name.rfind(scope, 0) == 0) out.push_back(t);
  return out;
}

std::vector<std::string> Graph::get_all_collection_keys() const {
  std::vector<std::string> keys;
  for (const auto& [k, v] : collections_)
    if (!v.empty()) keys.push_back(k);
  return keys;
}

void Graph::clear_collection(const std::string& key) { collections_.erase(key); }

std::string Graph::unique_name(const std::string& base, bool mark_as_used) {
  return unique_name(base, mark_as_used, nullptr);
}

std::string Graph::unique_name(const std::string& base, bool mark_as_used,
                               std::vector<std::pair<std::string, int>>* touched) {
  std::string name = name_stack_.empty() ? base : name_stack_ + "/" + base;
  std::string key = lower(name);
  auto mark = [&](const std::string& k, int value) {
    if (!mark_as_used) return;
    auto it = names_in_use_.find(k);
    if (touched) touched->emplace_back(k, it == names_in_use_.end() ? 0 : it->second);
    names_in_use_[k] = value;
  };
  auto it = names_in_use_.find(key);
  int i = it == names_in_use_.end() ? 0 : it->second;
  mark(key, i + 1);
  if (i > 0) {
    std::string candidate = key;
    while (names_in_use_.count(candidate)) candidate = fmt::format("{}_{}", key, i++);
    mark(candidate, 1);
    name = fmt::format("{}_{}", name, i - 1);
  }
  return name;
}

std::shared_ptr<Node> Graph::add_node(const std::string& type, const std::string& default_name,
                                      std::vector<Tensor> inputs, std::vector<graph::OutputSpec> outputs,
                                      graph::Kernel kernel) {
  // Check every graph input before anything is added: a failed build leaves the graph as it was.
  for (const Tensor& in : inputs) {
    if (!in.defined() || !in.is_symbolic()) continue;
    Node& producer = *in.impl()->node;
    if (producer.graph() != this)
      throw ValueError(fmt::format("{}: input '{}' belongs to another graph than the node being built ('{}'); build "
                                   "all the nodes of one computation in one graph",
                                   type, in.name(), unique_name(default_name.empty() ? type : default_name, false)));
    if (in.impl()->output_index < 0)
      throw ValueError(fmt::format("{}: input '{}' is an operation, which has no value; to run it first, use "
                                   "control_dependencies",
                                   type, in.name()));
  }
  for (Tensor& in : inputs) {  // eager inputs become Const nodes
    if (!in.defined() || in.is_symbolic()) continue;
    in = add_constant(in);
  }
  std::vector<std::shared_ptr<Node>> control;
  for (const auto& level : control_stack_)
    for (const auto& c : level)
      if (std::find(control.begin(), control.end(), c) == control.end()) control.push_back(c);

  // Remember the names_in_use entries this name sets, so that rename_last can undo them.
  std::vector<std::pair<std::string, int>> reserved;
  std::string name = unique_name(default_name.empty() ? type : default_name, true, &reserved);
  auto node = std::make_shared<Node>(this, static_cast<std::int64_t>(nodes_.size()), type, name, std::move(inputs),
                                     std::move(control), std::move(outputs), std::move(kernel));
  node->reserved_ = std::move(reserved);
  by_name_[node->name()] = node.get();
  nodes_.push_back(node);
  return node;
}

Tensor Graph::add_constant(const Tensor& value, const std::string& name) {
  if (!value.defined() || value.is_symbolic())
    throw ValueError(fmt::format("constant '{}': the value must be a concrete (eager) tensor", name));
  Tensor data = value.detach().clone();
  return add_node("Const", name, {}, {{data.shape(), data.dtype()}},
                  [data](std::span<const Tensor>, graph::RunContext&) { return std::vector<Tensor>{data}; })
      ->output(0);
}

void Graph::rename_last(Node& node, const std::string& name) {
  if (nodes_.empty() || nodes_.back().get() != &node)
    throw ValueError(fmt::format("named('{}'): node '{}' is not the last node built; name a node right where it is "
                                 "built, before building anything else",
                                 name, node.name()));
  if (!name.empty() && name.back() == '/' && by_name_.count(name.substr(0, name.size() - 1)))
    throw ValueError(fmt::format("named('{}'): the graph already has a node called '{}'", name,
                                 name.substr(0, name.size() - 1)));
  for (auto it = node.reserved_.rbegin(); it != node.reserved_.rend(); ++it) {
    if (it->second == 0) names_in_use_.erase(it->first);
    else names_in_use_[it->first] = it->second;
  }
  by_name_.erase(node.name_);
  node.reserved_.clear();
  if (!name.empty() && name.back() == '/') {
    // TensorFlow's convention: a name ending in "/" (a name scope's) is used exactly.
    node.name_ = name.substr(0, name.size() - 1);
  } else {
    node.name_ = unique_name(name, true, &node.reserved_);
  }
  by_name_[node.name_] = &node;
}

// ---------------------------------------------------------------------------- scopes

name_scope::name_scope(const std::string& name) : graph_(get_default_graph()) {
  std::string full;
  if (name.empty()) full = "";
  else if (name.back() == '/') full = name.substr(0, name.size() - 1);
  else full = graph_.unique_name(name);
  name_ = full.empty() ? "" : full + "/";
  previous_ = graph_.swap_name_scope(full);
}

name_scope::~name_scope() { graph_.swap_name_scope(previous_); }

control_dependencies::control_dependencies(const std::vector<Tensor>& inputs) : graph_(get_default_graph()) {
  std::vector<std::shared_ptr<Node>> level;
  for (const Tensor& t : inputs) {
    Graph& owner = graph_of(t, "control_dependencies");
    if (&owner != &graph_)
      throw ValueError(fmt::format("control_dependencies: '{}' belongs to another graph than the default graph",
                                   t.impl()->name));
    level.push_back(t.impl()->node);
  }
  graph_.control_dependency_stack().push_back(std::move(level));
}

control_dependencies::~control_dependencies() { graph_.control_dependency_stack().pop_back(); }

// ---------------------------------------------------------------------------- collections

void add_to_collection(const std::string& key, const Tensor& value) {
  graph_of(value, "add_to_collection").add_to_collection(key, value);
}

void add_to_collections(const std::vector<std::string>& keys, const Tensor& value) {
  for (const auto& k : keys) add_to_collection(k, value);
}

std::vector<Tensor> get_collection(const std::string& key, const std::string& scope) {
  return get_default_graph().get_collection(key, scope);
}

Tensor named(const std::string& name, const Tensor& t) {
  if (t.defined() && !t.is_symbolic()) return t;  // an eager tensor has no node to name
  Node& n = graph::node_of("named", t);
  if (!n.graph()) throw ValueError(fmt::format("named('{}'): the graph of '{}' no longer exists", name, n.name()));
  n.graph()->rename_last(n, name);
  t.impl()->name = t.impl()->output_index < 0 ? n.name() : fmt::format("{}:{}", n.name(), t.impl()->output_index);
  return t;
}

// ---------------------------------------------------------------------------- the door's builder

namespace {

Graph& graph_of_inputs(const char* type, std::span<const Tensor> inputs) {
  for (const Tensor& t : inputs)
    if (t.defined() && t.is_symbolic()) return graph_of(t, type);
  return get_default_graph();
}

// The node of an op applied to graph tensors (see lib/autograd/door.h): its kernel replays the
// op's rule and forward through the door with the concrete inputs of each run.
std::vector<Tensor> build_from_door(autograd::NodeRequest& request) {
  Graph& g = graph_of_inputs(request.def.type, request.inputs);
  auto node = g.add_node(request.def.type, request.def.node ? request.def.node : request.def.type,
                         std::vector<Tensor>(request.inputs.begin(), request.inputs.end()),
                         std::move(request.outputs),
                         [replay = std::move(request.replay)](std::span<const Tensor> in, graph::RunContext&) {
                           return replay(in);
                         });
  for (const autograd::Attr& a : request.attrs) node->attrs[a.name()] = a.value();
  std::vector<Tensor> out;
  out.reserve(static_cast<std::size_t>(node->num_outputs()));
  for (int i = 0; i < node->num_outputs(); ++i) out.push_back(node->output(i));
  return out;
}

// "while building node 'truediv' (RealDiv) from 'x:0' [?,3], a constant [3]".
std::string describe_for_door(const autograd::OpDef& def, std::span<const Tensor> inputs) {
  Graph* g = nullptr;
  for (const Tensor& t : inputs)
    if (t.defined() && t.is_symbolic() && t.impl()->node->graph()) g = t.impl()->node->graph();
  if (!g) return "";
  std::string text =
      fmt::format("\n  while building node '{}' ({}) from ", g->unique_name(def.node ? def.node : def.type, false),
                  def.type);
  bool first = true;
  for (const Tensor& t : inputs) {
    if (!t.defined()) continue;
    text += fmt::format("{}{}{}", first ? "" : ", ", t.is_symbolic() ? "'" + t.name() + "' " : "a constant ",
                        t.shape().str());
    first = false;
  }
  return text;
}

}  // namespace

Graph::Graph() { autograd::install_graph_builder({&build_from_door, &describe_for_door}); }

}  // namespace tapeflow
