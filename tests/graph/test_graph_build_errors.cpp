// A table-driven test builds every op in graph mode with a mismatched input and checks that the
// error names the actual node name and type.
//
// Every op of lib/ goes through one door (lib/autograd/door.h). When an input is a graph tensor and
// the op's dtype checks or shape rule fail, the door adds to the error the node being built and
// every input:
//   "div: shapes [?,3] and [4] cannot be broadcast together (...)
//     while building node 'layer/truediv_1' (RealDiv) from 'layer/x:0' [?,3], 'layer/y:0' [4]"
// Each row of the tables below builds one op from placeholders, in a Graph of its own, and checks:
// - the exception's exact type (ShapeError, DTypeError or ValueError) and the op's own message;
// - that the message ends with that "while building" line for the row's node name (TensorFlow's
//   default name, under the current name scope, made unique with _1, _2...), type and inputs (a
//   graph tensor's name and static shape, or "a constant" and its shape for an eager tensor);
// - that the failed build added nothing to the graph: the node count just before the failing call
//   (after the inputs were built) is the count after it, and no node has the name the error gave.
//   An eager input becomes a Const node only when the node is built, so a failed build adds none.
// Where a row also builds the op with valid inputs (`then_builds`), the node made there must have
// exactly the name and type the error gave.
//
// Ops that go through the door but cannot fail at build time (any dtype, any shape): cast,
// stop_gradient, identity (graph/variables.cpp) and nn::zero_fraction. reduce_logsumexp,
// reduce_variance, reduce_std, norm, einsum, moments, batch_normalization and batch_norm are
// composites of the ops below, which check their operands themselves before building any node
// (errors_that_name_no_node).
//
// The differences found with TensorFlow, and the errors that name no node, are listed below the
// includes.
#include <algorithm>
#include <functional>
#include <span>
#include <string>
#include <typeindex>
#include <vector>

#include <boost/core/demangle.hpp>

#include "helpers.h"
#include "tapeflow/distributed.h"
#include "tapeflow/graph.h"
#include "tapeflow/nn.h"

using namespace tapeflow;

// ------------------------------------------------------------------------------ differences found
//
// Node names and types that differ from what TensorFlow 1.x's Python API builds. The rows pin what
// tapeflow builds (an error must name *that* node); TensorFlow's names are given for whoever
// changes lib/:
// (The ops whose Python function names their node, as tf.concat's "concat", name it so here too:
// the OpDef's `node`; split, concat, stack, transpose, one_hot, clip_by_value, truediv...)
// - in_top_k:    'InTopKV2'; TensorFlow 1.15 'in_top_k/InTopKV2'          (name_scope "in_top_k")
// - clip:        one 'clip_by_value' node (ClipByValue); tf.clip_by_value builds
//                'clip_by_value/Minimum' (Minimum) and 'clip_by_value' (Maximum)
// - xw_plus_b:   one '_FusedMatMul' node named '_FusedMatMul'; tf.nn.xw_plus_b builds
//                'xw_plus_b/MatMul' (MatMul) and 'xw_plus_b' (BiasAdd) (_FusedMatMul appears only
//                when TensorFlow's graph optimizer fuses them, under the BiasAdd's name).
// - conv2d with a bias: one '_FusedConv2D' node named '_FusedConv2D', likewise.
// - assign_moving_average: 'AssignSub'; TensorFlow 'AssignMovingAvg' (AssignSub)
//                (layers::batch_norm renames its own with named()).
// - dropout, zero_fraction, confusion_matrix: one node of a type TensorFlow does not have
//                ('Dropout', 'ZeroFraction', 'ConfusionMatrix', as their headers say); TensorFlow
//                builds composites under the name scopes 'dropout', 'zero_fraction' and
//                'confusion_matrix'.
// - flatten:     a 'Reshape' node named 'Reshape'; tf.layers.flatten's is 'flatten/Reshape'.
// - distributed::allreduce: 'HorovodAllreduce'; Horovod names it after its input
//                ('HorovodAllreduce_x_0').
//
// Errors that name no node (pinned below): add_n / concat / stack of no tensor (no input, so no
// graph), `x + 1.5` (and the other operators with a number) for an integer x, which fails
// converting the number before the op is called, pad with an unknown mode (the mode picks the
// node's type; tf.pad raises its ValueError before building too), and the composites'
// own checks (reduce_variance, reduce_std, norm, einsum). A check of an argument (clip's bounds, a
// keep_prob, strides...) is part of the op's rule and names the node (arguments_name_the_node).

namespace {

/// The failing call of a row, and optionally the same op with valid inputs.
class Attempt {
 public:
  Attempt(Graph& g, std::string node) : g_(g), node_(std::move(node)) {}

  /// Runs `op` (which must throw), after the row built its inputs: counts the graph's nodes just
  /// before and after, and sees whether a node has the name the error gives.
  template <class F>
  void fails(F&& op) {
    before_ = g_.nodes().size();
    try {
      (void)op();
    } catch (const Error&) {
      error_ = std::current_exception();
    }
    after_ = g_.nodes().size();
    named_node_exists_ = std::any_of(g_.nodes().begin(), g_.nodes().end(),
                                     [&](const auto& n) { return n->name() == node_; });
    attempted_ = true;
  }

  /// Builds the op again with valid inputs: its node must be the one the error named.
  void then_builds(const std::function<Tensor()>& op) { built_ = op(); }

  bool attempted() const { return attempted_; }
  std::exception_ptr error() const { return error_; }
  std::size_t before() const { return before_; }
  std::size_t after() const { return after_; }
  bool named_node_exists() const { return named_node_exists_; }
  const Tensor& built() const { return built_; }

 private:
  Graph& g_;
  std::string node_;
  bool attempted_ = false, named_node_exists_ = false;
  std::exception_ptr error_;
  std::size_t before_ = 0, after_ = 0;
  Tensor built_;
};

struct Row {
  std::string what;                      // the op and what is wrong with its input
  std::function<void(Attempt&)> build;   // builds the inputs, then calls Attempt::fails
  std::type_index error;                 // the exception's exact type
  std::string node, type;                // the node the error names: "layer/truediv_1" (RealDiv)
  std::string inputs;                    // how it names the inputs: "'x:0' [?,3], a constant []"
  std::string message;                   // a part of the op's own message
};

Tensor ph(const std::string& name, const Shape& shape, DType dtype = float32) {
  return placeholder(dtype, shape, name);
}

/// A row for a unary op given a placeholder 'x' [?,3] of a dtype it rejects: an integer one for the
/// float ops, bool for the numeric ones.
Row wrong_dtype(const std::string& op, const std::string& type, DType given, Tensor (*f)(const Tensor&),
                std::string node = "") {
  const std::string wanted = given == bool_ ? "a numeric tensor" : "a float32 or float64 tensor";
  return {fmt::format("{} of {}", op, dtype_name(given)),
          [given, f](Attempt& a) {
            Tensor x = ph("x", {-1, 3}, given);
            a.fails([&] { return f(x); });
          },
          typeid(DTypeError), node.empty() ? type : node, type, "'x:0' [?,3]",
          fmt::format("{}: expected {}, got {} [?,3]", op, wanted, dtype_name(given))};
}

void check_row(const Row& row) {
  BOOST_TEST_CONTEXT(row.what) {
    Graph g;
    auto scope = g.as_default();
    Attempt a(g, row.node);
    row.build(a);
    BOOST_TEST(a.attempted(), "the row never called Attempt::fails");
    BOOST_TEST(static_cast<bool>(a.error()), "the op did not throw");
    if (!a.error()) return;
    try {
      std::rethrow_exception(a.error());
    } catch (const Error& e) {
      const std::string msg = e.what();
      BOOST_TEST_CONTEXT("message: " << msg) {
        BOOST_TEST(boost::core::demangle(typeid(e).name()) == boost::core::demangle(row.error.name()));
        BOOST_TEST(msg.find(row.message) == 0u);  // the op's own message comes first
        // ... and the node being built comes last, once.
        const std::string building =
            fmt::format("\n  while building node '{}' ({}) from {}", row.node, row.type, row.inputs);
        BOOST_TEST(msg.substr(std::min(msg.find("\n  while building"), msg.size())) == building);
        BOOST_TEST(msg.find("while building") == msg.rfind("while building"));
      }
    }
    BOOST_TEST(a.after() == a.before());  // no node, not even a Const for an eager input
    BOOST_TEST(!a.named_node_exists());
    if (a.built().defined()) {
      BOOST_TEST(a.built().impl()->node->name() == row.node);
      BOOST_TEST(a.built().impl()->node->type() == row.type);
    }
  }
}

void check_rows(const std::vector<Row>& rows) {
  for (const Row& row : rows) check_row(row);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(graph_build_errors)

// ------------------------------------------------------------------------------ arithmetic

BOOST_AUTO_TEST_CASE(arithmetic) {
  check_rows({
      {"add: [?,3] + [4]",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3}), y = ph("y", {4});
         a.fails([&] { return add(x, y); });
         a.then_builds([&] { return add(x, x); });
       },
       typeid(ShapeError), "add", "Add", "'x:0' [?,3], 'y:0' [4]",
       "add: shapes [?,3] and [4] cannot be broadcast together (dimension 1: 3 vs 4)"},
      {"sub: float32 - int32",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3}), n = ph("n", {-1, 3}, int32);
         a.fails([&] { return x - n; });
       },
       typeid(DTypeError), "sub", "Sub", "'x:0' [?,3], 'n:0' [?,3]",
       "sub: both operands must have one dtype, got float32 [?,3] and int32 [?,3]"},
      {"mul: [2,3] * [3,2]",
       [](Attempt& a) {
         Tensor x = ph("x", {2, 3}), y = ph("y", {3, 2});
         a.fails([&] { return x * y; });
       },
       typeid(ShapeError), "mul", "Mul", "'x:0' [2,3], 'y:0' [3,2]", "mul: shapes [2,3] and [3,2] cannot be broadcast"},
      {"div: the second RealDiv node is truediv_1",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3}), y = ph("y", {4});
         (void)div(x, x);
         a.fails([&] { return x / y; });
         a.then_builds([&] { return x / x; });
       },
       typeid(ShapeError), "truediv_1", "RealDiv", "'x:0' [?,3], 'y:0' [4]", "div: shapes [?,3] and [4]"},
      {"div under name_scope 'layer', after another",
       [](Attempt& a) {
         name_scope layer("layer");
         Tensor x = ph("x", {-1, 3}), y = ph("y", {4});
         (void)div(x, x);
         a.fails([&] { return div(x, y); });
         a.then_builds([&] { return div(x, x); });
       },
       typeid(ShapeError), "layer/truediv_1", "RealDiv", "'layer/x:0' [?,3], 'layer/y:0' [4]",
       "div: shapes [?,3] and [4]"},
      {"pow of int32 tensors",
       [](Attempt& a) {
         Tensor n = ph("n", {-1}, int32), m = ph("m", {-1}, int32);
         a.fails([&] { return pow(n, m); });
       },
       typeid(DTypeError), "pow", "Pow", "'n:0' [?], 'm:0' [?]",
       "pow: expected a float32 or float64 tensor, got int32 [?]"},
      {"pow of an int32 tensor by a number (a constant input)",
       [](Attempt& a) {
         Tensor n = ph("n", {-1}, int32);
         a.fails([&] { return pow(n, 2.0); });
         a.then_builds([&] { return pow(ph("x", {-1}), 2.0); });
       },
       typeid(DTypeError), "pow", "Pow", "'n:0' [?], a constant []", "pow: expected a float32 or float64 tensor"},
  });
}

// ------------------------------------------------------------------------------ maximum, minimum, add_n

BOOST_AUTO_TEST_CASE(maximum_minimum_add_n) {
  check_rows({
      {"maximum: [?,3] and [?,2]",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3}), y = ph("y", {-1, 2});
         a.fails([&] { return maximum(x, y); });
       },
       typeid(ShapeError), "Maximum", "Maximum", "'x:0' [?,3], 'y:0' [?,2]", "maximum: shapes [?,3] and [?,2]"},
      {"minimum: float32 and float64",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3}), d = ph("d", {-1, 3}, float64);
         a.fails([&] { return minimum(x, d); });
       },
       typeid(DTypeError), "Minimum", "Minimum", "'x:0' [?,3], 'd:0' [?,3]",
       "minimum: both operands must have one dtype, got float32 [?,3] and float64 [?,3]"},
      {"add_n: a third input of another shape",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3}), y = ph("y", {-1, 3}), z = ph("z", {3, 1});
         a.fails([&] { return add_n({x, y, z}); });
       },
       typeid(ShapeError), "AddN", "AddN", "'x:0' [?,3], 'y:0' [?,3], 'z:0' [3,1]",
       "add_n: all inputs must have one shape, got [?,3] (input 0) and [3,1] (input 2)"},
      {"add_n: a third input of another dtype",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3}), y = ph("y", {-1, 3}), n = ph("n", {-1, 3}, int32);
         a.fails([&] { return add_n({x, y, n}); });
       },
       typeid(DTypeError), "AddN", "AddN", "'x:0' [?,3], 'y:0' [?,3], 'n:0' [?,3]",
       "add_n: input 2 is int32 [?,3] but input 0 is float32 [?,3]; they must have one dtype"},
  });
}

// ------------------------------------------------------------------------------ unary, activations

BOOST_AUTO_TEST_CASE(unary_elementwise_and_activations) {
  check_rows({
      wrong_dtype("neg", "Neg", bool_, [](const Tensor& x) { return neg(x); }),
      wrong_dtype("exp", "Exp", int32, [](const Tensor& x) { return exp(x); }),
      wrong_dtype("log", "Log", int32, [](const Tensor& x) { return log(x); }),
      wrong_dtype("sqrt", "Sqrt", int32, [](const Tensor& x) { return sqrt(x); }),
      wrong_dtype("rsqrt", "Rsqrt", int64, [](const Tensor& x) { return rsqrt(x); }),
      wrong_dtype("square", "Square", bool_, [](const Tensor& x) { return square(x); }),
      wrong_dtype("abs", "Abs", bool_, [](const Tensor& x) { return abs(x); }),
      wrong_dtype("sign", "Sign", bool_, [](const Tensor& x) { return sign(x); }),
      wrong_dtype("floor", "Floor", int32, [](const Tensor& x) { return floor(x); }),
      wrong_dtype("clip_by_value", "ClipByValue", bool_, [](const Tensor& x) { return clip(x, 0.0, 1.0); },
                  "clip_by_value"),
      wrong_dtype("relu", "Relu", int32, [](const Tensor& x) { return relu(x); }),
      wrong_dtype("relu6", "Relu6", int32, [](const Tensor& x) { return relu6(x); }),
      wrong_dtype("leaky_relu", "LeakyRelu", int32, [](const Tensor& x) { return leaky_relu(x); }),
      wrong_dtype("elu", "Elu", uint8, [](const Tensor& x) { return elu(x); }),
      wrong_dtype("softplus", "Softplus", int32, [](const Tensor& x) { return softplus(x); }),
      wrong_dtype("sigmoid", "Sigmoid", int32, [](const Tensor& x) { return sigmoid(x); }),
      wrong_dtype("tanh", "Tanh", int32, [](const Tensor& x) { return tanh(x); }),
      {"relu under name_scope 'hidden1', after another",
       [](Attempt& a) {
         name_scope hidden("hidden1");
         Tensor x = ph("x", {-1, 3}), n = ph("n", {-1}, int32);
         (void)relu(x);
         a.fails([&] { return relu(n); });
         a.then_builds([&] { return relu(x); });
       },
       typeid(DTypeError), "hidden1/Relu_1", "Relu", "'hidden1/n:0' [?]", "relu: expected a float32 or float64 tensor"},
  });
}

// ------------------------------------------------------------------------------ comparisons, where

BOOST_AUTO_TEST_CASE(comparisons_and_where) {
  check_rows({
      {"equal: [?,3] and [4]",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3}), y = ph("y", {4});
         a.fails([&] { return equal(x, y); });
         a.then_builds([&] { return equal(x, x); });
       },
       typeid(ShapeError), "Equal", "Equal", "'x:0' [?,3], 'y:0' [4]", "equal: shapes [?,3] and [4]"},
      {"not_equal: float32 and int32",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3}), n = ph("n", {-1, 3}, int32);
         a.fails([&] { return not_equal(x, n); });
       },
       typeid(DTypeError), "NotEqual", "NotEqual", "'x:0' [?,3], 'n:0' [?,3]",
       "not_equal: both operands must have one dtype, got float32 [?,3] and int32 [?,3]"},
      {"less: [2] and [3]",
       [](Attempt& a) {
         Tensor x = ph("x", {2}), y = ph("y", {3});
         a.fails([&] { return less(x, y); });
       },
       typeid(ShapeError), "Less", "Less", "'x:0' [2], 'y:0' [3]", "less: shapes [2] and [3]"},
      {"less_equal: int64 and int32",
       [](Attempt& a) {
         Tensor l = ph("l", {-1}, int64), n = ph("n", {-1}, int32);
         a.fails([&] { return less_equal(l, n); });
       },
       typeid(DTypeError), "LessEqual", "LessEqual", "'l:0' [?], 'n:0' [?]",
       "less_equal: both operands must have one dtype, got int64 [?] and int32 [?]"},
      {"greater: a constant [4] against [?,3]",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3});
         a.fails([&] { return greater(x, zeros({4})); });
       },
       typeid(ShapeError), "Greater", "Greater", "'x:0' [?,3], a constant [4]", "greater: shapes [?,3] and [4]"},
      {"greater_equal: bool and float32",
       [](Attempt& a) {
         Tensor b = ph("b", {-1}, bool_), x = ph("x", {-1});
         a.fails([&] { return greater_equal(b, x); });
       },
       typeid(DTypeError), "GreaterEqual", "GreaterEqual", "'b:0' [?], 'x:0' [?]",
       "greater_equal: both operands must have one dtype, got bool [?] and float32 [?]"},
      {"logical_not of float32",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3});
         a.fails([&] { return logical_not(x); });
       },
       typeid(DTypeError), "LogicalNot", "LogicalNot", "'x:0' [?,3]",
       "logical_not: x must be bool, got float32 [?,3]"},
      {"where: a float32 condition",
       [](Attempt& a) {
         Tensor c = ph("c", {-1, 3}), x = ph("x", {-1, 3}), y = ph("y", {-1, 3});
         a.fails([&] { return where(c, x, y); });
         a.then_builds([&] { return where(ph("b", {-1, 3}, bool_), x, y); });
       },
       typeid(DTypeError), "Select", "Select", "'c:0' [?,3], 'x:0' [?,3], 'y:0' [?,3]",
       "where: the condition must be bool, got float32 [?,3]"},
      {"where: x [?,3] and y [4]",
       [](Attempt& a) {
         Tensor c = ph("c", {-1, 3}, bool_), x = ph("x", {-1, 3}), y = ph("y", {4});
         a.fails([&] { return where(c, x, y); });
       },
       typeid(ShapeError), "Select", "Select", "'c:0' [?,3], 'x:0' [?,3], 'y:0' [4]", "where: shapes [?,3] and [4]"},
      {"where: x float32, y int32",
       [](Attempt& a) {
         Tensor c = ph("c", {-1}, bool_), x = ph("x", {-1}), n = ph("n", {-1}, int32);
         a.fails([&] { return where(c, x, n); });
       },
       typeid(DTypeError), "Select", "Select", "'c:0' [?], 'x:0' [?], 'n:0' [?]",
       "where: y is int32 [?] but x is float32 [?]; they must have one dtype (cast(y, float32))"},
  });
}

// ------------------------------------------------------------------------------ matmul, reductions

BOOST_AUTO_TEST_CASE(matmul_and_reductions) {
  check_rows({
      {"matmul: [?,3] by [4,5]",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3}), w = ph("w", {4, 5});
         a.fails([&] { return matmul(x, w); });
         a.then_builds([&] { return matmul(x, ph("v", {3, 5})); });
       },
       typeid(ShapeError), "MatMul", "MatMul", "'x:0' [?,3], 'w:0' [4,5]",
       "matmul: cannot multiply [?,3] by [4,5]: inner dimensions 3 != 4"},
      {"matmul of int32 under name_scope 'hidden1'",
       [](Attempt& a) {
         name_scope hidden("hidden1");
         Tensor n = ph("n", {-1, 3}, int32), m = ph("m", {3, 5}, int32);
         a.fails([&] { return matmul(n, m); });
       },
       typeid(DTypeError), "hidden1/MatMul", "MatMul", "'hidden1/n:0' [?,3], 'hidden1/m:0' [3,5]",
       "matmul: expected a float32 or float64 tensor, got int32 [?,3]"},
      {"reduce_sum: axis 2 of a rank-2 tensor",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3});
         a.fails([&] { return reduce_sum(x, {2}); });
         a.then_builds([&] { return reduce_sum(x, {1}); });
       },
       typeid(ValueError), "Sum", "Sum", "'x:0' [?,3]", "reduce_sum: axis 2 is out of range for a tensor of rank 2"},
      {"reduce_mean of bool",
       [](Attempt& a) {
         Tensor b = ph("b", {-1, 3}, bool_);
         a.fails([&] { return reduce_mean(b); });
       },
       typeid(DTypeError), "Mean", "Mean", "'b:0' [?,3]", "reduce_mean: expected a numeric tensor, got bool [?,3]"},
      {"reduce_max: axis 1 listed twice",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3});
         a.fails([&] { return reduce_max(x, {1, -1}); });
       },
       typeid(ValueError), "Max", "Max", "'x:0' [?,3]", "reduce_max: axis listed twice for a tensor of shape [?,3]"},
      {"reduce_min: axis -3 of a rank-2 tensor",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3});
         a.fails([&] { return reduce_min(x, {-3}, true); });
       },
       typeid(ValueError), "Min", "Min", "'x:0' [?,3]", "reduce_min: axis -3 is out of range"},
      {"argmax of a scalar",
       [](Attempt& a) {
         Tensor s = ph("s", {});
         a.fails([&] { return argmax(s); });
       },
       typeid(ValueError), "ArgMax", "ArgMax", "'s:0' []", "argmax: needs a tensor of rank >= 1, got a scalar"},
      {"argmin along an empty axis",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 0});
         a.fails([&] { return argmin(x, 1); });
       },
       typeid(ValueError), "ArgMin", "ArgMin", "'x:0' [?,0]", "argmin: axis 1 of shape [?,0] is empty"},
  });
}

// ------------------------------------------------------------------------------ reshape, transpose, squeeze

BOOST_AUTO_TEST_CASE(reshape_transpose_squeeze_expand_dims) {
  check_rows({
      {"reshape: 6 elements into [4,2]",
       [](Attempt& a) {
         Tensor x = ph("x", {2, 3});
         a.fails([&] { return reshape(x, {4, 2}); });
         a.then_builds([&] { return reshape(x, {3, 2}); });
       },
       typeid(ShapeError), "Reshape", "Reshape", "'x:0' [2,3]",
       "reshape: cannot reshape a tensor of shape [2,3] (6 elements) into [4,2] (8 elements)"},
      {"reshape: two -1",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3});
         a.fails([&] { return reshape(x, {-1, -1}); });
       },
       typeid(ShapeError), "Reshape", "Reshape", "'x:0' [?,3]", "reshape: can only infer one dimension (-1)"},
      {"transpose: a perm of 3 entries for rank 2",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3});
         a.fails([&] { return transpose(x, {1, 0, 2}); });
       },
       typeid(ShapeError), "transpose", "Transpose", "'x:0' [?,3]",
       "transpose: perm [1,0,2] has 3 entries for a tensor of shape [?,3] (rank 2)"},
      {"transpose: perm [0,0]",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3});
         a.fails([&] { return transpose(x, {0, 0}); });
       },
       typeid(ValueError), "transpose", "Transpose", "'x:0' [?,3]",
       "transpose: perm [0,0] is not a permutation of 0..1"},
      {"squeeze: axis 1 of size 3",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3});
         a.fails([&] { return squeeze(x, {1}); });
       },
       typeid(ShapeError), "Squeeze", "Squeeze", "'x:0' [?,3]",
       "squeeze: cannot squeeze axis 1 of shape [?,3]: its size is 3, not 1"},
      {"squeeze: every size-1 dimension of a partly unknown shape",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 1});
         a.fails([&] { return squeeze(x); });
       },
       typeid(ShapeError), "Squeeze", "Squeeze", "'x:0' [?,1]",
       "squeeze: cannot remove every size-1 dimension of [?,1]"},
      {"expand_dims: axis 4 of a rank-2 tensor",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3});
         a.fails([&] { return expand_dims(x, 4); });
       },
       typeid(ValueError), "ExpandDims", "ExpandDims", "'x:0' [?,3]", "expand_dims: axis 4 is out of range"},
  });
}

// ------------------------------------------------------------------------------ concat, stack, split, slice

BOOST_AUTO_TEST_CASE(concat_stack_split_slice) {
  check_rows({
      {"concat: [?,3] and [?,4] along axis 0",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3}), y = ph("y", {-1, 4});
         a.fails([&] { return concat({x, y}, 0); });
         a.then_builds([&] { return concat({x, y}, 1); });
       },
       typeid(ShapeError), "concat", "ConcatV2", "'x:0' [?,3], 'y:0' [?,4]",
       "concat: along axis 0, input 1 has shape [?,4] but input 0 has shape [?,3]"},
      {"concat of scalars",
       [](Attempt& a) {
         Tensor s = ph("s", {}), t = ph("t", {});
         a.fails([&] { return concat({s, t}, 0); });
       },
       typeid(ShapeError), "concat", "ConcatV2", "'s:0' [], 't:0' []", "concat: cannot concatenate scalars"},
      {"stack: [?,3] and [?,4]",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3}), y = ph("y", {-1, 4});
         a.fails([&] { return stack({x, y}); });
       },
       typeid(ShapeError), "stack", "Pack", "'x:0' [?,3], 'y:0' [?,4]",
       "stack: input 1 has shape [?,4] but input 0 has shape [?,3]; all must be equal"},
      {"split: 5 into 2 equal parts",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 5});
         a.fails([&] { return split(x, 2, 1); });
         a.then_builds([&] { return split(x, 5, 1)[0]; });
       },
       typeid(ShapeError), "split", "Split", "'x:0' [?,5]",
       "split: dimension 1 (= 5) of shape [?,5] cannot be split into 2 equal parts"},
      {"split: sizes [2,2] of 5",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 5});
         a.fails([&] { return split(x, std::vector<std::int64_t>{2, 2}, 1); });
         a.then_builds([&] { return split(x, std::vector<std::int64_t>{2, 3}, 1)[1]; });
       },
       typeid(ShapeError), "split", "SplitV", "'x:0' [?,5]",
       "split: sizes [2,2] do not add up to dimension 1 (= 5) of shape [?,5]"},
      {"slice: out of bounds",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3});
         a.fails([&] { return slice(x, {0, 1}, {-1, 3}); });
       },
       typeid(ShapeError), "Slice", "Slice", "'x:0' [?,3]",
       "slice: begin [0,1] size [-1,3] is out of bounds for shape [?,3] (dimension 1)"},
  });
}

// ------------------------------------------------------------------------------ indexing, broadcast

BOOST_AUTO_TEST_CASE(indexing_and_broadcast_ops) {
  check_rows({
      {"gather: float32 indices",
       [](Attempt& a) {
         Tensor p = ph("params", {-1, 4}), i = ph("indices", {-1});
         a.fails([&] { return gather(p, i); });
       },
       typeid(DTypeError), "GatherV2", "GatherV2", "'params:0' [?,4], 'indices:0' [?]",
       "gather: indices must be int32 or int64, got float32 [?]"},
      {"gather: a constant index out of range",
       [](Attempt& a) {
         Tensor p = ph("params", {-1, 4});
         a.fails([&] { return gather(p, tensor({1, 5}, int64), 1); });
         a.then_builds([&] { return gather(p, tensor({1, 3}, int64), 1); });
       },
       typeid(ValueError), "GatherV2", "GatherV2", "'params:0' [?,4], a constant [2]",
       "gather: index 5 (at position 1) is out of range [0, 4) for axis 1 of params [?,4]"},
      {"one_hot: float32 indices",
       [](Attempt& a) {
         Tensor i = ph("indices", {-1});
         a.fails([&] { return one_hot(i, 10); });
         a.then_builds([&] { return one_hot(ph("labels", {-1}, uint8), 10); });
       },
       typeid(DTypeError), "one_hot", "OneHot", "'indices:0' [?]",
       "one_hot: indices must be int32, int64 or uint8, got float32 [?]"},
      {"broadcast_to: [?,3] to [2,4]",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3});
         a.fails([&] { return broadcast_to(x, {2, 4}); });
       },
       typeid(ShapeError), "BroadcastTo", "BroadcastTo", "'x:0' [?,3]",
       "broadcast_to: shape [?,3] cannot be broadcast to [2,4]"},
      {"tile: one multiple for a rank-2 tensor",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3});
         a.fails([&] { return tile(x, {2}); });
       },
       typeid(ShapeError), "Tile", "Tile", "'x:0' [?,3]", "tile: multiples [2] must have 2 entries for shape [?,3]"},
  });
}

// ------------------------------------------------------------------------------ math, array, linalg

BOOST_AUTO_TEST_CASE(sequence_model_math_array_linalg_ops) {
  check_rows({
      wrong_dtype("sin", "Sin", int32, [](const Tensor& x) { return sin(x); }),
      wrong_dtype("cos", "Cos", int64, [](const Tensor& x) { return cos(x); }),
      wrong_dtype("erf", "Erf", int32, [](const Tensor& x) { return erf(x); }),
      wrong_dtype("log1p", "Log1p", uint8, [](const Tensor& x) { return log1p(x); }),
      wrong_dtype("expm1", "Expm1", int32, [](const Tensor& x) { return expm1(x); }),
      wrong_dtype("round", "Round", bool_, [](const Tensor& x) { return round(x); }),
      {"logical_and of float32",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3}), b = ph("b", {-1, 3}, bool_);
         a.fails([&] { return logical_and(x, b); });
         a.then_builds([&] { return logical_and(b, b); });
       },
       typeid(DTypeError), "LogicalAnd", "LogicalAnd", "'x:0' [?,3], 'b:0' [?,3]",
       "logical_and: x must be bool, got float32 [?,3]"},
      {"logical_or: [?,3] with [4]",
       [](Attempt& a) {
         Tensor b = ph("b", {-1, 3}, bool_), c = ph("c", {4}, bool_);
         a.fails([&] { return logical_or(b, c); });
       },
       typeid(ShapeError), "LogicalOr", "LogicalOr", "'b:0' [?,3], 'c:0' [4]",
       "logical_or: shapes [?,3] and [4] cannot be broadcast together"},
      {"cumsum: axis 2 of a rank-2 tensor",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3});
         a.fails([&] { return cumsum(x, 2); });
         a.then_builds([&] { return cumsum(x, 1, true); });
       },
       typeid(ValueError), "Cumsum", "Cumsum", "'x:0' [?,3]", "cumsum: axis 2 is out of range for a tensor of rank 2"},
      {"top_k: k larger than the last dimension",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 4});
         a.fails([&] { return top_k(x, 5).values; });
         a.then_builds([&] { return top_k(x, 4).values; });
       },
       typeid(ValueError), "TopKV2", "TopKV2", "'x:0' [?,4]",
       "top_k: k = 5 is larger than the last dimension of input [?,4] (4); use k <= 4"},
      {"pad: REFLECT more than size - 1",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3});
         a.fails([&] { return pad(x, {{1, 1}, {0, 3}}, "REFLECT"); });
         a.then_builds([&] { return pad(x, {{1, 1}, {0, 2}}, "REFLECT"); });
       },
       typeid(ShapeError), "MirrorPad", "MirrorPad", "'x:0' [?,3]",
       "pad: REFLECT padding {0, 3} of dimension 1 is too large for input [?,3]"},
      {"pad: one pair for a rank-2 tensor",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3});
         a.fails([&] { return pad(x, {{1, 1}}); });
         a.then_builds([&] { return pad(x, {{1, 1}, {0, 0}}); });
       },
       typeid(ShapeError), "Pad", "Pad", "'x:0' [?,3]", "pad: paddings has 1 pairs for input [?,3] of rank 2"},
      {"pad: a negative padding with constant_values",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3});
         a.fails([&] { return pad(x, {{-1, 0}, {0, 0}}, "constant", 2.0); });
       },
       typeid(ValueError), "PadV2", "PadV2", "'x:0' [?,3]", "pad: paddings must be >= 0, got {-1, 0} for dimension 0"},
      {"band_part of a vector",
       [](Attempt& a) {
         Tensor v = ph("v", {-1});
         a.fails([&] { return linalg::band_part(v, -1, 0); });
       },
       typeid(ShapeError), "MatrixBandPart", "MatrixBandPart", "'v:0' [?]",
       "band_part: input must be a matrix or a batch of them (rank >= 2), got [?]"},
      {"unsorted_segment_sum: ids that do not match data",
       [](Attempt& a) {
         Tensor d = ph("data", {-1, 3}), ids = ph("ids", {4, 2}, int32);
         a.fails([&] { return unsorted_segment_sum(d, ids, 5); });
         a.then_builds([&] { return unsorted_segment_sum(d, ph("rows", {-1}, int64), 5); });
       },
       typeid(ShapeError), "UnsortedSegmentSum", "UnsortedSegmentSum", "'data:0' [?,3], 'ids:0' [4,2]",
       "unsorted_segment_sum: segment_ids [4,2] do not match data [?,3]"},
      {"unsorted_segment_sum: a constant id out of range",
       [](Attempt& a) {
         Tensor d = ph("data", {-1, 3});
         a.fails([&] { return unsorted_segment_sum(d, tensor({0, 5}, int32), 5); });
       },
       typeid(ValueError), "UnsortedSegmentSum", "UnsortedSegmentSum", "'data:0' [?,3], a constant [2]",
       "unsorted_segment_sum: segment id 5 (at position 1) is out of range for num_segments 5"},
      {"matmul: batch dims [?,2] and [3]",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 2, 3, 4}), w = ph("w", {3, 4, 5});
         a.fails([&] { return matmul(x, w); });
         a.then_builds([&] { return matmul(x, ph("v", {2, 4, 5})); });
       },
       typeid(ShapeError), "MatMul", "BatchMatMulV2", "'x:0' [?,2,3,4], 'w:0' [3,4,5]",
       "matmul: batch dimensions of [?,2,3,4] and [3,4,5] cannot be broadcast (dimension 1: 2 vs 3)"},
  });
}

// ------------------------------------------------------------------------------ conv, pool, dense

BOOST_AUTO_TEST_CASE(conv_pool_and_dense) {
  using nn::Padding;
  check_rows({
      {"conv2d: 3 input channels, a filter for 1",
       [](Attempt& a) {
         Tensor images = ph("images", {-1, 28, 28, 3});
         a.fails([&] { return nn::conv2d(images, zeros({5, 5, 1, 8}), {1, 1}, Padding::Same); });
         a.then_builds([&] { return nn::conv2d(images, zeros({5, 5, 3, 8}), {1, 1}, Padding::Same); });
       },
       typeid(ShapeError), "Conv2D", "Conv2D", "'images:0' [?,28,28,3], a constant [5,5,1,8]",
       "conv2d: filter [5,5,1,8] expects 1 input channels but the input [?,28,28,3] has 3"},
      {"conv2d: a float64 input and a float32 filter",
       [](Attempt& a) {
         Tensor images = ph("images", {-1, 28, 28, 1}, float64), f = ph("filter", {5, 5, 1, 8});
         a.fails([&] { return nn::conv2d(images, f, {1, 1}, Padding::Valid); });
       },
       typeid(DTypeError), "Conv2D", "Conv2D", "'images:0' [?,28,28,1], 'filter:0' [5,5,1,8]",
       "conv2d: both operands must have one dtype, got float64 [?,28,28,1] and float32 [5,5,1,8]"},
      {"conv2d with a bias of the wrong size",
       [](Attempt& a) {
         Tensor images = ph("images", {-1, 28, 28, 3}), f = ph("filter", {5, 5, 3, 8}), b = ph("bias", {16});
         a.fails([&] { return nn::conv2d(images, f, b, {1, 1}, Padding::Same); });
         a.then_builds([&] { return nn::conv2d(images, f, ph("b", {8}), {1, 1}, Padding::Same); });
       },
       typeid(ShapeError), "_FusedConv2D", "_FusedConv2D",
       "'images:0' [?,28,28,3], 'filter:0' [5,5,3,8], 'bias:0' [16]",
       "conv2d: bias must be 1-D with one value per output channel ([8] for the filter [5,5,3,8]), got [16]"},
      {"bias_add: [?,10] + [5]",
       [](Attempt& a) {
         Tensor v = ph("value", {-1, 10}), b = ph("bias", {5});
         a.fails([&] { return nn::bias_add(v, b); });
       },
       typeid(ShapeError), "BiasAdd", "BiasAdd", "'value:0' [?,10], 'bias:0' [5]",
       "bias_add: bias must be 1-D with one value per channel (the last dimension of value [?,10], i.e. [10]), "
       "got [5]"},
      {"max_pool of a rank-3 tensor",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 28, 28});
         a.fails([&] { return nn::max_pool(x, {2, 2}, {2, 2}, Padding::Same); });
       },
       typeid(ShapeError), "MaxPool", "MaxPool", "'x:0' [?,28,28]",
       "max_pool: value must be 4-D [batch, height, width, channels], got [?,28,28]"},
      {"avg_pool: a 3x3 VALID window over 2x2",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 2, 2, 1});
         a.fails([&] { return nn::avg_pool(x, {3, 3}, {1, 1}, Padding::Valid); });
         a.then_builds([&] { return nn::avg_pool(x, {3, 3}, {1, 1}, Padding::Same); });
       },
       typeid(ShapeError), "AvgPool", "AvgPool", "'x:0' [?,2,2,1]",
       "avg_pool: window 3x3 (ksize [3,3]) is larger than the input [?,2,2,1] (2x2) with VALID padding"},
      {"xw_plus_b: [?,3] by [4,5]",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3}), w = ph("weights", {4, 5}), b = ph("biases", {5});
         a.fails([&] { return nn::xw_plus_b(x, w, b); });
         a.then_builds([&] { return nn::xw_plus_b(x, ph("w", {3, 5}), b); });
       },
       typeid(ShapeError), "_FusedMatMul", "_FusedMatMul", "'x:0' [?,3], 'weights:0' [4,5], 'biases:0' [5]",
       "xw_plus_b: cannot multiply x [?,3] by weights [4,5]"},
      {"local_response_normalization of a rank-2 tensor",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3});
         a.fails([&] { return nn::local_response_normalization(x); });
       },
       typeid(ShapeError), "LRN", "LRN", "'x:0' [?,3]",
       "local_response_normalization: input must be 4-D [batch, height, width, channels] (NHWC), got [?,3] of rank 2"},
  });
}

// ------------------------------------------------------------------------------ dropout, flatten, norms

BOOST_AUTO_TEST_CASE(dropout_flatten_and_batch_norm) {
  check_rows({
      {"dropout (a number keep_prob) of int32",
       [](Attempt& a) {
         Tensor n = ph("n", {-1, 3}, int32);
         a.fails([&] { return nn::dropout(n, 0.5); });
         a.then_builds([&] { return nn::dropout(ph("x", {-1, 3}), 0.5); });
       },
       typeid(DTypeError), "Dropout", "Dropout", "'n:0' [?,3]",
       "dropout: expected a float32 or float64 tensor, got int32 [?,3]"},
      {"dropout (a tensor keep_prob) of shape [2]",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3}), keep = ph("keep_prob", {2});
         a.fails([&] { return nn::dropout(x, keep); });
         a.then_builds([&] { return nn::dropout(x, ph("keep", {})); });
       },
       typeid(ShapeError), "Dropout", "Dropout", "'x:0' [?,3], 'keep_prob:0' [2]",
       "dropout: keep_prob must be a scalar tensor [] (e.g. placeholder(float32, {})), got shape [2]"},
      {"dropout (a tensor keep_prob): a constant 1.5",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 3});
         a.fails([&] { return nn::dropout(x, scalar(1.5)); });
       },
       typeid(ValueError), "Dropout", "Dropout", "'x:0' [?,3], a constant []",
       "dropout: keep_prob must be in (0, 1], got 1.5"},
      {"flatten of a scalar",
       [](Attempt& a) {
         Tensor s = ph("s", {});
         a.fails([&] { return nn::flatten(s); });
         a.then_builds([&] { return nn::flatten(ph("x", {-1, 7, 7, 64})); });
       },
       typeid(ShapeError), "Reshape", "Reshape", "'s:0' []", "flatten: input must have a batch dimension"},
      {"fused_batch_norm (a bool training): gamma [3] for 4 channels",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 4}), gamma = ph("gamma", {3}), beta = ph("beta", {4});
         Tensor mean = ph("mean", {4}), var = ph("variance", {4});
         a.fails([&] { return nn::fused_batch_norm(x, gamma, beta, mean, var, 0.001, true); });
         a.then_builds([&] { return nn::fused_batch_norm(x, beta, beta, mean, var, 0.001, true).y; });
       },
       typeid(ShapeError), "FusedBatchNorm", "FusedBatchNorm",
       "'x:0' [?,4], 'gamma:0' [3], 'beta:0' [4], 'mean:0' [4], 'variance:0' [4], a constant []",
       "batch_norm: scale (gamma) has shape [3] but x [?,4] has 4 channels"},
      {"fused_batch_norm (a tensor training) of float32",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 4}), mean = ph("mean", {4}), var = ph("variance", {4}), t = ph("training", {});
         a.fails([&] { return nn::fused_batch_norm(x, Tensor(), Tensor(), mean, var, 0.001, t); });
       },
       typeid(DTypeError), "FusedBatchNorm", "FusedBatchNorm",
       "'x:0' [?,4], 'mean:0' [4], 'variance:0' [4], 'training:0' []",
       "fused_batch_norm: training must be bool, got float32 []"},
      {"assign_moving_average: value [3] for a moving [4]",
       [](Attempt& a) {
         Tensor moving = Variable(zeros({4}), "moving_mean"), v = ph("value", {3}), t = ph("training", {}, bool_);
         a.fails([&] { return nn::assign_moving_average(moving, v, 0.9, t); });
         a.then_builds([&] { return nn::assign_moving_average(moving, ph("batch_mean", {4}), 0.9, t); });
       },
       typeid(ShapeError), "AssignSub", "AssignSub", "'moving_mean:0' [4], 'value:0' [3], 'training:0' []",
       "assign_moving_average: value [3] must have the shape of moving [4]"},
      {"assign_moving_average: a float32 training",
       [](Attempt& a) {
         Tensor moving = Variable(zeros({4}), "moving_mean"), v = ph("value", {4}), t = ph("training", {});
         a.fails([&] { return nn::assign_moving_average(moving, v, 0.9, t); });
       },
       typeid(DTypeError), "AssignSub", "AssignSub", "'moving_mean:0' [4], 'value:0' [4], 'training:0' []",
       "assign_moving_average: training must be bool, got float32 []"},
  });
}

// ------------------------------------------------------------------------------ softmax, losses, metrics

BOOST_AUTO_TEST_CASE(softmax_losses_and_metrics) {
  check_rows({
      wrong_dtype("softmax", "Softmax", int32, [](const Tensor& x) { return nn::softmax(x); }),
      {"log_softmax: axis 2 of a rank-2 tensor",
       [](Attempt& a) {
         Tensor logits = ph("logits", {-1, 10});
         a.fails([&] { return nn::log_softmax(logits, 2); });
         a.then_builds([&] { return nn::log_softmax(logits, 1); });
       },
       typeid(ValueError), "LogSoftmax", "LogSoftmax", "'logits:0' [?,10]", "log_softmax: axis 2 is out of range"},
      {"softmax_cross_entropy_with_logits: labels [?,10], logits [?,5]",
       [](Attempt& a) {
         Tensor labels = ph("labels", {-1, 10}), logits = ph("logits", {-1, 5});
         a.fails([&] { return nn::softmax_cross_entropy_with_logits(labels, logits); });
       },
       typeid(ShapeError), "SoftmaxCrossEntropyWithLogits", "SoftmaxCrossEntropyWithLogits",
       "'labels:0' [?,10], 'logits:0' [?,5]",
       "softmax_cross_entropy_with_logits: labels [?,10] and logits [?,5] must have the same shape [..., classes]"},
      {"sparse_softmax_cross_entropy_with_logits: float32 labels",
       [](Attempt& a) {
         Tensor labels = ph("labels", {-1}), logits = ph("logits", {-1, 10});
         a.fails([&] { return nn::sparse_softmax_cross_entropy_with_logits(labels, logits); });
         a.then_builds([&] { return nn::sparse_softmax_cross_entropy_with_logits(ph("l", {-1}, int64), logits); });
       },
       typeid(DTypeError), "SparseSoftmaxCrossEntropyWithLogits", "SparseSoftmaxCrossEntropyWithLogits",
       "'labels:0' [?], 'logits:0' [?,10]",
       "sparse_softmax_cross_entropy_with_logits: labels must be int32 or int64, got float32 [?]"},
      {"sparse_softmax_cross_entropy_with_logits: labels [?,1]",
       [](Attempt& a) {
         Tensor labels = ph("labels", {-1, 1}, int32), logits = ph("logits", {-1, 10});
         a.fails([&] { return nn::sparse_softmax_cross_entropy_with_logits(labels, logits); });
       },
       typeid(ShapeError), "SparseSoftmaxCrossEntropyWithLogits", "SparseSoftmaxCrossEntropyWithLogits",
       "'labels:0' [?,1], 'logits:0' [?,10]",
       "sparse_softmax_cross_entropy_with_logits: labels [?,1] must have the shape of logits [?,10] without its last "
       "dimension"},
      wrong_dtype("l2_loss", "L2Loss", int32, [](const Tensor& x) { return nn::l2_loss(x); }),
      {"in_top_k: rank-1 predictions",
       [](Attempt& a) {
         Tensor p = ph("predictions", {-1}), t = ph("targets", {-1}, int32);
         a.fails([&] { return nn::in_top_k(p, t, 1); });
         a.then_builds([&] { return nn::in_top_k(ph("logits", {-1, 10}), t, 1); });
       },
       typeid(ShapeError), "InTopKV2", "InTopKV2", "'predictions:0' [?], 'targets:0' [?]",
       "in_top_k: predictions must be [batch, classes] and targets [batch], got [?] and [?]"},
      {"in_top_k: float32 targets",
       [](Attempt& a) {
         Tensor p = ph("predictions", {-1, 10}), t = ph("targets", {-1});
         a.fails([&] { return nn::in_top_k(p, t, 1); });
       },
       typeid(DTypeError), "InTopKV2", "InTopKV2", "'predictions:0' [?,10], 'targets:0' [?]",
       "in_top_k: targets must be int32 or int64, got float32 [?]"},
      {"confusion_matrix: 5 labels, 4 predictions",
       [](Attempt& a) {
         Tensor l = ph("labels", {5}, int32), p = ph("predictions", {4}, int32);
         a.fails([&] { return nn::confusion_matrix(l, p, 3); });
         a.then_builds([&] { return nn::confusion_matrix(l, ph("p", {5}, int64), 3); });
       },
       typeid(ShapeError), "ConfusionMatrix", "ConfusionMatrix", "'labels:0' [5], 'predictions:0' [4]",
       "confusion_matrix: labels [5] and predictions [4] must have the same length"},
      {"confusion_matrix: float32 labels",
       [](Attempt& a) {
         Tensor l = ph("labels", {-1}), p = ph("predictions", {-1}, int64);
         a.fails([&] { return nn::confusion_matrix(l, p); });
       },
       typeid(DTypeError), "ConfusionMatrix", "ConfusionMatrix", "'labels:0' [?], 'predictions:0' [?]",
       "confusion_matrix: labels must be int32 or int64, got float32 [?]"},
  });
}

// ------------------------------------------------------------------------------ distributed, CustomOp

BOOST_AUTO_TEST_CASE(distributed_and_custom_ops) {
  namespace dist = distributed;
  check_rows({
      {"allreduce: the average of int32",
       [](Attempt& a) {
         Tensor n = ph("counts", {-1, 3}, int32);
         a.fails([&] { return dist::allreduce(n); });
         a.then_builds([&] { return dist::allreduce(n, dist::ReduceOp::sum); });
       },
       typeid(DTypeError), "HorovodAllreduce", "HorovodAllreduce", "'counts:0' [?,3]",
       "distributed::allreduce: cannot average a int32 tensor [?,3]; use ReduceOp::sum"},
      {"allreduce: the sum of bool",
       [](Attempt& a) {
         Tensor b = ph("flags", {-1}, bool_);
         a.fails([&] { return dist::allreduce(b, dist::ReduceOp::sum); });
       },
       typeid(DTypeError), "HorovodAllreduce", "HorovodAllreduce", "'flags:0' [?]",
       "distributed::allreduce: cannot sum a bool tensor [?]"},
      {"grouped_allreduce: the average of float32 and int32",
       [](Attempt& a) {
         Tensor g = ph("grad", {3, 4}), n = ph("count", {}, int32);
         a.fails([&] { return dist::grouped_allreduce({g, n}); });
         a.then_builds([&] { return dist::grouped_allreduce({g, ph("loss", {})})[1]; });
       },
       typeid(DTypeError), "HorovodGroupedAllreduce", "HorovodGroupedAllreduce", "'grad:0' [3,4], 'count:0' []",
       "distributed::grouped_allreduce: cannot average a int32 tensor []"},
      {"CustomOp whose shape function throws",
       [](Attempt& a) {
         CustomOp outer(
             "Outer", [](std::span<const Tensor> in) { return matmul(in[0], in[1]); },
             [](std::span<const Tensor>, const Tensor&, const Tensor&) { return Grads{Tensor(), Tensor()}; },
             [](std::span<const Tensor> in) {
               if (in[0].rank() != 2 || in[1].rank() != 2)
                 throw ShapeError(fmt::format("Outer: needs two matrices, got {} and {}", in[0].shape().str(),
                                              in[1].shape().str()));
               return OutputSpec{Shape{in[0].dim(0), in[1].dim(1)}, in[0].dtype()};
             });
         Tensor x = ph("x", {-1, 3}), v = ph("v", {3});
         a.fails([&] { return outer({x, v}); });
         a.then_builds([&] { return outer({x, ph("w", {3, 2})}); });
       },
       typeid(ShapeError), "Outer", "Outer", "'x:0' [?,3], 'v:0' [3]", "Outer: needs two matrices, got [?,3] and [3]"},
      {"CustomOp without a shape function",
       [](Attempt& a) {
         CustomOp cube(
             "Cube", [](std::span<const Tensor> in) { return in[0] * in[0] * in[0]; },
             [](std::span<const Tensor> in, const Tensor&, const Tensor& g) { return Grads{g * 3.0 * square(in[0])}; });
         Tensor x = ph("x", {-1, 3});
         a.fails([&] { return cube({x}); });
       },
       typeid(ValueError), "Cube", "Cube", "'x:0' [?,3]",
       "CustomOp 'Cube': an input is a graph tensor, and without a shape function"},
  });
}

// ------------------------------------------------------------------------------ around the rows

BOOST_AUTO_TEST_CASE(eager_inputs_become_const_nodes_only_when_the_node_is_built) {
  Graph g;
  auto scope = g.as_default();
  Tensor n = ph("n", {-1}, int32), x = ph("x", {-1});
  const std::size_t inputs = g.nodes().size();
  BOOST_CHECK_THROW(pow(n, 2.0), DTypeError);  // pow(n, scalar(2, int32)): the rule fails
  BOOST_TEST(g.nodes().size() == inputs);
  Tensor y = pow(x, 2.0);
  BOOST_TEST(g.nodes().size() == inputs + 2);
  BOOST_TEST(g.nodes()[inputs]->type() == "Const");
  BOOST_TEST(g.nodes()[inputs + 1]->name() == "pow");
  BOOST_TEST(y.impl()->node->inputs()[1].name() == g.nodes()[inputs]->name() + ":0");
}

BOOST_AUTO_TEST_CASE(arguments_name_the_node) {
  // An op checks its arguments in its rule, so that a bad one names the node too.
  Graph g;
  auto scope = g.as_default();
  Tensor x = ph("x", {-1, 3}), n = ph("n", {-1, 3}, int32), images = ph("images", {-1, 28, 28, 1});
  Tensor moving = Variable(zeros({3}), "moving");
  const std::size_t inputs = g.nodes().size();
  auto check_named = [](const std::function<void()>& op, const std::string& message, const std::string& node) {
    try {
      op();
      BOOST_ERROR("did not throw: " << message);
    } catch (const Error& e) {
      const std::string msg = e.what();
      BOOST_TEST_CONTEXT("message: " << msg) {
        BOOST_TEST(msg.find(message) == 0u);
        BOOST_TEST(msg.find("\n  while building node " + node) != std::string::npos);
      }
    }
  };
  check_named([&] { (void)clip(x, 1.0, 0.0); }, "clip_by_value: clip_value_min 1 is greater than clip_value_max 0",
              "'clip_by_value' (ClipByValue) from 'x:0' [?,3]");
  check_named([&] { (void)one_hot(n, -1); }, "one_hot: depth must be >= 0, got -1", "'one_hot' (OneHot)");
  check_named([&] { (void)broadcast_to(x, {-1, 3}); }, "broadcast_to: the target shape [?,3] must be fully known",
              "'BroadcastTo' (BroadcastTo)");
  check_named([&] { (void)nn::dropout(x, 0.0); }, "dropout: keep_prob must be in (0, 1], got 0", "'Dropout' (Dropout)");
  check_named([&] { (void)nn::conv2d(images, zeros({5, 5, 1, 8}), {1, 1, 1}, nn::Padding::Same); }, "conv2d:",
              "'Conv2D' (Conv2D) from 'images:0' [?,28,28,1], a constant [5,5,1,8]");
  check_named([&] { (void)nn::max_pool(images, {2, 2, 2}, {2, 2}, nn::Padding::Same); }, "max_pool:",
              "'MaxPool' (MaxPool)");
  check_named([&] { (void)nn::local_response_normalization(images, -1); },
              "local_response_normalization: depth_radius must be >= 0, got -1", "'LRN' (LRN)");
  check_named([&] { (void)nn::confusion_matrix(n, n, -2); }, "confusion_matrix: num_classes must be >= 0",
              "'ConfusionMatrix' (ConfusionMatrix)");
  check_named([&] { (void)nn::fused_batch_norm(images, Tensor(), Tensor(), zeros({1}), ones({1}), -1.0, true); },
              "batch_norm: epsilon must be >= 0, got -1", "'FusedBatchNorm' (FusedBatchNorm)");
  check_named([&] { (void)nn::assign_moving_average(moving, x, 2.0, scalar(1.0, bool_)); },
              "batch_norm: decay must be in [0, 1], got 2", "'AssignSub' (AssignSub)");
  BOOST_TEST(g.nodes().size() == inputs);
}

BOOST_AUTO_TEST_CASE(errors_that_name_no_node) {
  // No graph input (nothing to build a node in), or a number that does not fit the tensor's dtype
  // (converted before the op is called): the message names the op.
  Graph g;
  auto scope = g.as_default();
  Tensor n = ph("n", {-1, 3}, int32);
  const std::size_t inputs = g.nodes().size();
  TF_CHECK_THROWS_WITH(add_n({}), ValueError, "add_n: needs at least one tensor");
  TF_CHECK_THROWS_WITH(concat({}, 0), ValueError, "concat: needs at least one tensor");
  TF_CHECK_THROWS_WITH(stack({}), ValueError, "stack: needs at least one tensor");
  TF_CHECK_THROWS_WITH(n + 1.5, DTypeError, "add: cannot convert 1.5 to int32");
  // pad's mode picks the node's type (Pad, PadV2, MirrorPad): an unknown one has no node to name,
  // as tf.pad's ValueError. The composites check their operands before building any node.
  Tensor x = ph("x", {-1, 3});
  const std::size_t with_x = g.nodes().size();
  TF_CHECK_THROWS_WITH(pad(x, {{0, 0}, {1, 1}}, "WRAP"), ValueError, "pad: unknown mode 'WRAP'");
  TF_CHECK_THROWS_WITH(reduce_variance(n), DTypeError, "reduce_variance: expected a float32 or float64 tensor");
  TF_CHECK_THROWS_WITH(reduce_std(x, {2}), ValueError, "reduce_std: axis 2 is out of range");
  TF_CHECK_THROWS_WITH(norm(x, "fro", {1}), ValueError, "norm: 'fro' is a matrix norm");
  TF_CHECK_THROWS_WITH(einsum("ij,jk->ik", {x, ph("w", {4, 2})}), ShapeError,
                       "einsum: dimension 'j' is 3 in operand 0 [?,3] but 4 in operand 1 [4,2]");
  BOOST_TEST(g.nodes().size() == with_x + 1);  // the placeholder 'w'
  BOOST_TEST(inputs + 1 == with_x);
}

BOOST_AUTO_TEST_CASE(an_input_of_another_graph) {
  // Graph::add_node checks every graph input before it turns the eager ones into Const nodes: a
  // failed build adds nothing, and the error names the node it would have built.
  Graph other;
  Tensor y;
  {
    auto s = other.as_default();
    y = ph("y", {-1, 3});
  }
  Graph g;
  auto scope = g.as_default();
  Tensor c = ph("c", {-1, 3}, bool_), x = ph("x", {-1, 3});
  for (const Tensor& cond : {c, scalar(1.0, bool_)}) {
    const std::size_t inputs = g.nodes().size();
    TF_CHECK_THROWS_WITH(where(cond, x, y), ValueError, "Select: input 'y:0' belongs to another graph",
                         "the node being built ('Select')");
    BOOST_TEST(g.nodes().size() == inputs);
  }
}

// ------------------------------------------------------------------------------ sequence models

BOOST_AUTO_TEST_CASE(sequence_model_ops) {
  check_rows({
      {"gelu of int32",
       [](Attempt& a) {
         Tensor n = ph("n", {-1, 3}, int32);
         a.fails([&] { return nn::gelu(n); });
         a.then_builds([&] { return nn::gelu(ph("x", {-1, 3})); });
       },
       typeid(DTypeError), "Gelu", "Gelu", "'n:0' [?,3]", "gelu: expected a float32 or float64 tensor, got int32 [?,3]"},
      {"layer_norm: gamma [3] for [?,4]",
       [](Attempt& a) {
         Tensor x = ph("x", {-1, 4}), gamma = ph("gamma", {3});
         a.fails([&] { return nn::layer_norm(x, gamma, Tensor()); });
         a.then_builds([&] { return nn::layer_norm(x, ph("g", {4}), Tensor()); });
       },
       typeid(ShapeError), "LayerNorm", "LayerNorm", "'x:0' [?,4], 'gamma:0' [3]",
       "layer_norm: gamma has shape [3] but x [?,4] is normalised over its axes from 1 on, [4]"},
      {"scaled_dot_product_attention: D 4 against 3",
       [](Attempt& a) {
         Tensor q = ph("q", {-1, 5, 4}), k = ph("k", {-1, 6, 3}), v = ph("v", {-1, 6, 2});
         a.fails([&] { return nn::scaled_dot_product_attention(q, k, v); });
         a.then_builds([&] { return nn::scaled_dot_product_attention(q, ph("k4", {-1, 6, 4}), v); });
       },
       typeid(ShapeError), "ScaledDotProductAttention", "ScaledDotProductAttention",
       "'q:0' [?,5,4], 'k:0' [?,6,3], 'v:0' [?,6,2]",
       "scaled_dot_product_attention: query and key must have the same last dimension D"},
      {"lstm_step: w_h [2,6] for 2 units",
       [](Attempt& a) {
         Tensor xp = ph("x_proj", {-1, 8}), h = ph("h", {-1, 2}), c = ph("c", {-1, 2}), w = ph("w_h", {2, 6});
         a.fails([&] { return nn::lstm_step(xp, {h, c}, w).h; });
         a.then_builds([&] { return nn::lstm_step(xp, {h, c}, ph("w", {2, 8})).h; });
       },
       typeid(ShapeError), "LSTMStep", "LSTMStep", "'x_proj:0' [?,8], 'h:0' [?,2], 'c:0' [?,2], 'w_h:0' [2,6]",
       "lstm_step: w_h must be [2, 8], got [2,6]"},
      {"gru_step: h [?,4] for gates_x [?,6]",
       [](Attempt& a) {
         Tensor gx = ph("gates_x", {-1, 6}), cx = ph("candidate_x", {-1, 3}), h = ph("h", {-1, 4});
         Tensor wg = ph("gates_h", {3, 6}), wc = ph("candidate_h", {3, 3});
         a.fails([&] { return nn::gru_step(gx, cx, h, wg, wc); });
         a.then_builds([&] { return nn::gru_step(gx, cx, ph("h3", {-1, 3}), wg, wc); });
       },
       typeid(ShapeError), "GRUStep", "GRUStep",
       "'gates_x:0' [?,6], 'candidate_x:0' [?,3], 'h:0' [?,4], 'gates_h:0' [3,6], 'candidate_h:0' [3,3]",
       "gru_step: gates_x must be [batch, 8] for 4 units, got [?,6]"},
  });
}

BOOST_AUTO_TEST_SUITE_END()
