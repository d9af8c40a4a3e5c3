// Placeholders, variables, variable scopes, initializers, assign and group.
#include "tapeflow/graph/variables.h"

#include <fmt/format.h>

#include "autograd/door.h"
#include "graph/internal.h"
#include "tapeflow/autograd.h"
#include "tapeflow/graph/session.h"
#include "tapeflow/nn/init.h"
#include "tapeflow/ops/elementwise.h"

namespace tapeflow {

using graph::Kernel;
using graph::internal::compatible;
using graph::Node;
using graph::OutputSpec;
using graph::RunContext;
using Args = std::span<const Tensor>;

namespace {

// Variables and their initializers are built outside any control_dependencies scope (as
// TensorFlow's init_scope does): reading a variable must not wait for a train op.
struct NoControlDependencies {
  explicit NoControlDependencies(Graph& g) : graph(g) { std::swap(saved, g.control_dependency_stack()); }
  ~NoControlDependencies() { std::swap(saved, graph.control_dependency_stack()); }
  Graph& graph;
  std::vector<std::vector<std::shared_ptr<Node>>> saved;
};

// Adds a node whose name is exactly `name` made unique at the top level of the graph (not under
// the current name scope): variables and their helpers are named by their full scoped name.
std::shared_ptr<Node> add_named(Graph& g, const std::string& full_name, const std::string& type,
                                std::vector<Tensor> inputs, std::vector<OutputSpec> outputs, Kernel kernel) {
  std::string outer = g.swap_name_scope("");
  try {
    auto node = g.add_node(type, full_name, std::move(inputs), std::move(outputs), std::move(kernel));
    g.swap_name_scope(outer);
    return node;
  } catch (...) {
    g.swap_name_scope(outer);
    throw;
  }
}

Node& variable_node(const char* who, const Tensor& variable) {
  Node& n = graph::node_of(who, variable);
  if (n.type() != "VariableV2")
    throw ValueError(fmt::format("{}: '{}' is a {} node, not a variable", who, n.name(), n.type()));
  return n;
}

// The Assign-like node of `variable` named "<variable>/<op name>" (in its own name scope).
Tensor variable_update(const char* who, const Tensor& variable, const Tensor& value, const std::string& type,
                       const std::string& name, Kernel kernel) {
  Node& var = variable_node(who, variable);
  Graph& g = *var.graph();
  name_scope scope(var.name() + "/");
  auto node = g.add_node(type, name, {value}, {{var.outputs()[0].shape, var.outputs()[0].dtype}}, std::move(kernel));
  node->attrs["variables"] = std::vector<std::string>{var.name()};
  return node->output(0);
}

Tensor make_variable(Graph& g, const std::string& full_name, const Tensor& initial_value, bool trainable,
                     std::vector<std::string> collections) {
  const Shape shape = initial_value.shape();
  const DType dtype = initial_value.dtype();
  NoControlDependencies no_deps(g);
  if (!shape.is_fully_known())
    throw ShapeError(fmt::format("Variable '{}': the initial value's shape {} must be fully known", full_name,
                                 shape.str()));
  auto var = add_named(g, full_name, "VariableV2", {}, {{shape, dtype}},
                       [](Args, RunContext& ctx) { return std::vector<Tensor>{ctx.session.value(ctx.node)}; });
  var->attrs["trainable"] = trainable;
  Tensor handle = var->output(0);
  // The initializer: "<name>/Assign" from the initial value.
  Tensor init_value = initial_value;
  if (!init_value.is_symbolic()) {
    name_scope scope(var->name() + "/");
    init_value = g.add_constant(initial_value, "initial_value");
  }
  Tensor assign_op = assign(handle, init_value, true, "Assign");
  var->attrs["initializer"] = graph::node_of("Variable", assign_op).name();
  if (collections.empty()) collections = {GraphKeys::GLOBAL_VARIABLES};
  for (const auto& key : collections) g.add_to_collection(key, handle);
  if (trainable) g.add_to_collection(GraphKeys::TRAINABLE_VARIABLES, handle);
  return handle;
}

}  // namespace

// ---------------------------------------------------------------------------- placeholders

Tensor placeholder(DType dtype, const Shape& shape, const std::string& name) {
  Graph& g = get_default_graph();
  auto node = g.add_node("Placeholder", name, {}, {{shape, dtype}}, [](Args, RunContext& ctx) -> std::vector<Tensor> {
    const OutputSpec& o = ctx.node.outputs()[0];
    throw ValueError(fmt::format("You must feed a value for placeholder tensor '{}' with dtype {} and shape {} "
                                 "(add it to the feed dict of Session::run)",
                                 ctx.node.name(), dtype_name(o.dtype), o.shape.str()));
  });
  return node->output(0);
}

Tensor constant(const Tensor& value, const std::string& name) {
  return get_default_graph().add_constant(value, name);
}

Tensor placeholder_with_default(const Tensor& input, const Shape& shape, const std::string& name) {
  if (!compatible(shape, input.shape()))
    throw ShapeError(fmt::format("placeholder_with_default '{}': the default's shape {} does not fit shape {}", name,
                                 input.shape().str(), shape.str()));
  Graph& g = (input.defined() && input.is_symbolic()) ? *graph::node_of("placeholder_with_default", input).graph()
                                        : get_default_graph();
  auto node = g.add_node("PlaceholderWithDefault", name, {input}, {{shape, input.dtype()}},
                         [](Args in, RunContext&) { return std::vector<Tensor>{in[0]}; });
  return node->output(0);
}

// ---------------------------------------------------------------------------- variables

Tensor Variable(const Tensor& initial_value, const std::string& name, VariableOptions options) {
  if (!initial_value.defined()) throw ValueError(fmt::format("Variable '{}': the initial value is undefined", name));
  Graph& g = (initial_value.defined() && initial_value.is_symbolic()) ? *graph::node_of("Variable", initial_value).graph()
                                                : get_default_graph();
  // tf.Variable names itself under the current name scope, made unique.
  return make_variable(g, g.unique_name(name, false), initial_value, options.trainable,
                       std::move(options.collections));
}

bool is_variable(const Tensor& t) {
  return t.defined() && t.is_symbolic() && t.impl()->node->type() == "VariableV2" && t.impl()->output_index == 0;
}

Tensor initializer_of(const Tensor& variable) {
  Node& var = variable_node("initializer_of", variable);
  return var.graph()->get_operation_by_name(std::get<std::string>(var.attrs.at("initializer")))->as_operation();
}

std::vector<Tensor> global_variables() { return get_collection(GraphKeys::GLOBAL_VARIABLES); }
std::vector<Tensor> trainable_variables() { return get_collection(GraphKeys::TRAINABLE_VARIABLES); }

Tensor variables_initializer(const std::vector<Tensor>& variables, const std::string& name) {
  std::vector<Tensor> inits;
  for (const Tensor& v : variables) inits.push_back(initializer_of(v));
  return group(inits, name);
}

Tensor global_variables_initializer() { return variables_initializer(global_variables(), "init"); }

// ---------------------------------------------------------------------------- initializers

Initializer zeros_initializer() {
  return [](const Shape& s, DType d) { return zeros(s, d); };
}
Initializer ones_initializer() {
  return [](const Shape& s, DType d) { return ones(s, d); };
}
Initializer constant_initializer(double value) {
  return [value](const Shape& s, DType d) { return full(s, value, d); };
}
Initializer random_normal_initializer(double mean, double stddev) {
  return [=](const Shape& s, DType d) { return random_normal(s, mean, stddev, d); };
}
Initializer truncated_normal_initializer(double mean, double stddev) {
  return [=](const Shape& s, DType d) { return truncated_normal(s, mean, stddev, d); };
}
Initializer random_uniform_initializer(double minval, double maxval) {
  return [=](const Shape& s, DType d) { return random_uniform(s, minval, maxval, d); };
}
Initializer glorot_uniform_initializer() {
  return [](const Shape& s, DType d) { return nn::init::glorot_uniform(s, d); };
}
Initializer xavier_initializer(bool uniform) {
  return [uniform](const Shape& s, DType d) {
    return uniform ? nn::init::glorot_uniform(s, d) : nn::init::glorot_normal(s, d);
  };
}
Initializer variance_scaling_initializer(double factor, const std::string& mode, bool uniform) {
  nn::init::FanMode fan;
  if (mode == "FAN_IN") fan = nn::init::FanMode::FanIn;
  else if (mode == "FAN_OUT") fan = nn::init::FanMode::FanOut;
  else if (mode == "FAN_AVG") fan = nn::init::FanMode::FanAvg;
  else
    throw ValueError(fmt::format("variance_scaling_initializer: mode must be FAN_IN, FAN_OUT or FAN_AVG, got '{}'",
                                 mode));
  nn::init::ContribVarianceScalingOptions options{.factor = factor, .mode = fan, .uniform = uniform};
  return [options](const Shape& s, DType d) { return nn::init::contrib_variance_scaling(s, options, d); };
}

// ---------------------------------------------------------------------------- get_variable

namespace graph::internal {
bool compatible(const Shape& declared, const Shape& actual) {
  if (declared.rank() != actual.rank()) return false;
  for (int i = 0; i < declared.rank(); ++i)
    if (declared[i] >= 0 && actual[i] >= 0 && declared[i] != actual[i]) return false;
  return true;
}

Tensor variable_from_initializer(Graph& g, const std::string& full_name, const Shape& shape, DType dtype,
                                 Initializer init, bool trainable, std::vector<std::string> collections) {
  // The initial value is computed when the initializer runs: "<full_name>/Initializer".
  Tensor initial;
  {
    NoControlDependencies no_deps(g);
    std::string outer = g.swap_name_scope(full_name);
    try {
      initial = g.add_node("Initializer", "Initializer", {}, {{shape, dtype}},
                           [init, shape, dtype](Args, RunContext&) { return std::vector<Tensor>{init(shape, dtype)}; })
                    ->output(0);
    } catch (...) {
      g.swap_name_scope(outer);
      throw;
    }
    g.swap_name_scope(outer);
  }
  return make_variable(g, full_name, initial, trainable, std::move(collections));
}
}  // namespace graph::internal

Tensor get_variable(const std::string& name, const Shape& shape, GetVariableOptions options) {
  Graph& g = get_default_graph();
  const auto& scopes = g.variable_scopes();
  const Graph::VariableScopeState* scope = scopes.empty() ? nullptr : &scopes.back();
  const std::string full = scope && !scope->name.empty() ? scope->name + "/" + name : name;
  auto& store = g.variable_store();
  auto found = store.find(full);
  if (scope && scope->reuse) {
    if (found == store.end())
      throw ValueError(fmt::format("get_variable: Variable {} does not exist, or was not created with "
                                   "get_variable(). Did you mean to set reuse=false in variable_scope?",
                                   full));
    if (found->second.shape() != shape)
      throw ShapeError(fmt::format("get_variable: Trying to share variable {}, but specified shape {} and found "
                                   "shape {}.",
                                   full, shape.str(), found->second.shape().str()));
    if (found->second.dtype() != options.dtype)
      throw DTypeError(fmt::format("get_variable: Trying to share variable {}, but specified dtype {} and found "
                                   "dtype {}.",
                                   full, dtype_name(options.dtype), dtype_name(found->second.dtype())));
    return found->second;
  }
  if (found != store.end())
    throw ValueError(fmt::format("get_variable: Variable {} already exists, disallowed. Did you mean to set "
                                 "reuse=true in variable_scope?",
                                 full));
  if (!shape.is_fully_known())
    throw ShapeError(fmt::format("get_variable: the shape of new variable {} must be fully known, got {}", full,
                                 shape.str()));
  Initializer init = options.initializer ? options.initializer
                     : scope && scope->initializer ? scope->initializer
                                                   : glorot_uniform_initializer();
  Tensor var = graph::internal::variable_from_initializer(g, full, shape, options.dtype, init, options.trainable,
                                                         options.collections);
  store[full] = var;
  auto regularizer = options.regularizer ? options.regularizer : scope ? scope->regularizer : nullptr;
  if (regularizer) {
    name_scope regularizer_scope(full + "/Regularizer/");
    Tensor penalty = regularizer(var);
    if (penalty.defined()) g.add_to_collection(GraphKeys::REGULARIZATION_LOSSES, penalty);
  }
  return var;
}

variable_scope::variable_scope(const std::string& name, VariableScopeOptions options)
    : graph_(get_default_graph()), names_(name) {
  auto& scopes = graph_.variable_scopes();
  const Graph::VariableScopeState* outer = scopes.empty() ? nullptr : &scopes.back();
  name_ = outer && !outer->name.empty() ? outer->name + "/" + name : name;
  Graph::VariableScopeState state;
  state.name = name_;
  state.reuse = options.reuse || (outer && outer->reuse);
  state.initializer = options.initializer ? options.initializer : outer ? outer->initializer : nullptr;
  state.regularizer = options.regularizer ? options.regularizer : outer ? outer->regularizer : nullptr;
  scopes.push_back(std::move(state));
}

variable_scope::~variable_scope() { graph_.variable_scopes().pop_back(); }

// ---------------------------------------------------------------------------- assign, group

Tensor assign(const Tensor& variable, const Tensor& value, bool validate_shape, const std::string& name) {
  Node& var = variable_node("assign", variable);
  if (!value.defined()) throw ValueError(fmt::format("assign to '{}': the value is undefined", var.name()));
  const OutputSpec& o = var.outputs()[0];
  if (value.dtype() != o.dtype)
    throw DTypeError(fmt::format("assign to '{}': the value has dtype {}, the variable {}; cast it first",
                                 var.name(), dtype_name(value.dtype()), dtype_name(o.dtype)));
  if (validate_shape && !compatible(o.shape, value.shape()))
    throw ShapeError(fmt::format("assign to '{}': the value's shape {} differs from the variable's {}", var.name(),
                                 value.shape().str(), o.shape.str()));
  auto var_node = var.shared_from_this();
  return variable_update("assign", variable, value, "Assign", name,
                         [var_node, validate_shape](Args in, RunContext& ctx) {
                           ctx.session.set_value(var_node->output(0), in[0], validate_shape);
                           return std::vector<Tensor>{ctx.session.value(*var_node)};
                         });
}

namespace {
Tensor assign_op(const char* who, const Tensor& variable, const Tensor& value, const std::string& type,
                 const std::string& name, bool subtract) {
  Node& var = variable_node(who, variable);
  if (!value.defined()) throw ValueError(fmt::format("{} to '{}': the value is undefined", who, var.name()));
  const OutputSpec& o = var.outputs()[0];
  if (value.dtype() != o.dtype)
    throw DTypeError(fmt::format("{} to '{}': the value has dtype {}, the variable {}; cast it first", who,
                                 var.name(), dtype_name(value.dtype()), dtype_name(o.dtype)));
  broadcast_shapes(who, o.shape, value.shape());
  auto var_node = var.shared_from_this();
  return variable_update(who, variable, value, type, name, [var_node, subtract](Args in, RunContext& ctx) {
    Tensor v = ctx.session.value(*var_node);
    Tensor delta = in[0];
    if (subtract) delta = neg(delta.detach());
    NoGradGuard no_grad;
    add_(v, delta.detach());
    return std::vector<Tensor>{v};
  });
}
}  // namespace

Tensor assign_add(const Tensor& variable, const Tensor& value, const std::string& name) {
  return assign_op("assign_add", variable, value, "AssignAdd", name, false);
}

Tensor assign_sub(const Tensor& variable, const Tensor& value, const std::string& name) {
  return assign_op("assign_sub", variable, value, "AssignSub", name, true);
}

Tensor group(const std::vector<Tensor>& inputs, const std::string& name) {
  Graph* g = &get_default_graph();
  for (const Tensor& t : inputs)
    if ((t.defined() && t.is_symbolic())) g = graph::node_of("group", t).graph();
  DefaultGraphScope scope(*g);
  control_dependencies deps(inputs);
  return g->add_node("NoOp", name, {}, {}, [](Args, RunContext&) { return std::vector<Tensor>{}; })->as_operation();
}

Tensor no_op(const std::string& name) { return group({}, name); }

Tensor identity(const Tensor& input, const std::string& name) {
  Tensor out = autograd::apply({"Identity", "identity", autograd::DTypes::Any, "a"}, {input}, {},
                               [](Args in) { return OutputSpec{in[0].shape(), in[0].dtype()}; },
                               [](Args in, const OutputSpec&) { return in[0]; });
  return name.empty() ? out : named(name, out);
}

}  // namespace tapeflow
