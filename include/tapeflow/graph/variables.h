#pragma once
/// Placeholders, variables and the ops that set them (tf.placeholder, tf.Variable,
/// tf.get_variable, tf.variable_scope, tf.assign, tf.global_variables_initializer, tf.group).
///
/// A variable is a graph tensor (the output of its "VariableV2" node) whose value lives in each
/// Session; it is created with an initializer op (`<name>/Assign`) that
/// global_variables_initializer() groups. Running a graph that reads a variable the session has
/// not initialized is an error naming the variable.
#include <functional>
#include <string>
#include <vector>

#include "tapeflow/graph/graph.h"
#include "tapeflow/tensor.h"

namespace tapeflow {

/// tf.placeholder: a graph tensor that each Session::run must feed (unless it is not needed).
/// Dimensions of -1 are unknown (`[?,784]`) and accept any size; the others must match.
Tensor placeholder(DType dtype, const Shape& shape, const std::string& name = "Placeholder");

/// tf.constant: a graph tensor whose value is a copy of `value` (an eager tensor). An eager tensor
/// used as an op's input in graph mode becomes such a node by itself; name one to refer to it
/// (e.g. to take a gradient with respect to it).
Tensor constant(const Tensor& value, const std::string& name = "Const");

/// tf.placeholder_with_default: the value of `input` (an eager or graph tensor) unless fed.
Tensor placeholder_with_default(const Tensor& input, const Shape& shape, const std::string& name = "PlaceholderWithDefault");

/// Options of a variable.
struct VariableOptions {
  /// Listed in GraphKeys::TRAINABLE_VARIABLES (optimizers train it by default).
  bool trainable = true;
  /// Collections it joins; empty means {GraphKeys::GLOBAL_VARIABLES}.
  std::vector<std::string> collections = {};
};

/// tf.Variable(initial_value, name=...): a variable of initial_value's shape and dtype (its
/// static shape must be fully known). `initial_value` may be an eager tensor (stored in the graph)
/// or a graph tensor (evaluated when the initializer runs). Joins GLOBAL_VARIABLES (and
/// TRAINABLE_VARIABLES when trainable).
Tensor Variable(const Tensor& initial_value, const std::string& name = "Variable", VariableOptions options = {});

/// An initializer for get_variable: the initial value of a variable of the given shape and dtype,
/// computed each time the variable's initializer runs.
using Initializer = std::function<Tensor(const Shape& shape, DType dtype)>;

/// Initializers with TensorFlow's names and defaults (tf.*_initializer).
Initializer zeros_initializer();
Initializer ones_initializer();
Initializer constant_initializer(double value);
Initializer random_normal_initializer(double mean = 0.0, double stddev = 1.0);
Initializer truncated_normal_initializer(double mean = 0.0, double stddev = 1.0);
Initializer random_uniform_initializer(double minval = -0.05, double maxval = 0.05);
/// tf.glorot_uniform_initializer (get_variable's default).
Initializer glorot_uniform_initializer();
/// tf.contrib.layers.variance_scaling_initializer (factor 2, FAN_IN, truncated normal by default).
Initializer variance_scaling_initializer(double factor = 2.0, const std::string& mode = "FAN_IN",
                                         bool uniform = false);
/// tf.contrib.layers.xavier_initializer.
Initializer xavier_initializer(bool uniform = true);

/// Options of get_variable.
struct GetVariableOptions {
  DType dtype = float32;
  /// Default: the enclosing variable_scope's initializer, else glorot_uniform_initializer().
  Initializer initializer = nullptr;
  /// Maps the variable to a penalty added to GraphKeys::REGULARIZATION_LOSSES (default: the
  /// enclosing variable_scope's regularizer, else none).
  std::function<Tensor(const Tensor&)> regularizer = nullptr;
  bool trainable = true;
  std::vector<std::string> collections = {};
};

/// tf.get_variable: the variable "<variable scope>/<name>". Creates it, unless the enclosing
/// variable_scope reuses variables, in which case it returns the existing one. Creating one that
/// exists, or reusing one that does not, is a ValueError (TensorFlow's "Did you mean to set
/// reuse=True" message); so is a shape that differs from the existing variable's.
Tensor get_variable(const std::string& name, const Shape& shape, GetVariableOptions options = {});

/// Options of variable_scope.
struct VariableScopeOptions {
  /// Reuse the variables of this scope instead of creating them (inherited by inner scopes).
  bool reuse = false;
  /// Default initializer / regularizer of get_variable inside the scope.
  Initializer initializer = nullptr;
  std::function<Tensor(const Tensor&)> regularizer = nullptr;
};

/// RAII tf.variable_scope: get_variable names become "<scope>/<name>", and ops are built under a
/// name scope of the same name (made unique, as TensorFlow's: a second `variable_scope("conv1",
/// {.reuse = true})` builds its ops under "conv1_1/" but shares the "conv1/" variables).
class variable_scope {
 public:
  explicit variable_scope(const std::string& name, VariableScopeOptions options = {});
  ~variable_scope();
  variable_scope(const variable_scope&) = delete;
  variable_scope& operator=(const variable_scope&) = delete;
  /// The full variable-scope name ("net/conv1").
  const std::string& name() const { return name_; }

 private:
  Graph& graph_;
  std::string name_;
  name_scope names_;
};

/// The initializer op of a variable ("<name>/Assign").
Tensor initializer_of(const Tensor& variable);
/// True for a variable's graph tensor.
bool is_variable(const Tensor& t);

/// The variables of the default graph (GLOBAL_VARIABLES / TRAINABLE_VARIABLES collections).
std::vector<Tensor> global_variables();
std::vector<Tensor> trainable_variables();

/// tf.variables_initializer: one operation running the initializers of `variables`.
Tensor variables_initializer(const std::vector<Tensor>& variables, const std::string& name = "init");
/// tf.global_variables_initializer: the initializers of every global variable, as one "init" op.
Tensor global_variables_initializer();

/// tf.assign: sets `variable` to `value` (same dtype; same shape unless validate_shape is false)
/// when run, and outputs the new value. `value` may be eager or a graph tensor.
Tensor assign(const Tensor& variable, const Tensor& value, bool validate_shape = true,
              const std::string& name = "Assign");
/// tf.assign_add / tf.assign_sub: variable += value / -= value (value broadcast to its shape).
/// The variable must have been initialized.
Tensor assign_add(const Tensor& variable, const Tensor& value, const std::string& name = "AssignAdd");
Tensor assign_sub(const Tensor& variable, const Tensor& value, const std::string& name = "AssignSub");

/// tf.group: one operation that runs all of `inputs` (a "NoOp" with control dependencies).
Tensor group(const std::vector<Tensor>& inputs, const std::string& name = "group_deps");
/// tf.no_op.
Tensor no_op(const std::string& name = "NoOp");
/// tf.identity: the same value under a new node (useful with control_dependencies).
Tensor identity(const Tensor& input, const std::string& name = "Identity");

}  // namespace tapeflow
