#pragma once
// The door: the one function through which every op of lib/ is applied (../shared/DESIGN.md).
//
//   Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
//     return autograd::apply({"MatMul", "matmul", DTypes::Floating}, {a, b},
//                            {{"transpose_a", ta}, {"transpose_b", tb}},
//         [=](Args in) { return matmul_rule(in[0], in[1], ta, tb); },    // rule: static types
//         [=](Args in, const MatMulPlan& p) {                            // forward: concrete values
//           Tensor c = ...;
//           return with_backward(c, [a = save(in[0]), b = save(in[1]), ta, tb](const Tensor& g) {
//             return Grads{matmul(g, *b, false, !tb), ...};              // backward, in ops
//           });
//         });
//   }
//
// An op hands the door its TensorFlow type ("MatMul"), the name its messages use ("matmul"), the
// dtypes its inputs take, its inputs, its attributes as data, and two closures:
// - the rule, `R(Args inputs)`: checks the inputs' shapes (and anything else it needs) and returns
//   the outputs' static types: an OutputSpec, a struct derived from one that also carries what the
//   forward needs (a convolution's geometry), or a std::vector<OutputSpec> for several outputs.
//   In graph mode shapes may have unknown dimensions (-1).
// - the forward, `F(Args inputs, const R& plan)`: computes the outputs from concrete inputs and
//   returns them either bare (a composite op, whose inner ops record themselves, or one that is not
//   differentiable) or with their backward closure, `with_backward(outputs, backward)`, written
//   right there, capturing by value what it reads. A tensor that the caller can reach (an input,
//   an output) is kept as `save(t)` (`save_output(y)` for the op's own output) and read back as
//   `*t`: the read checks that no in-place op changed it since (autograd.h's SavedTensor). Its
//   shape and requires_grad() read without the check. A tensor the op made for itself and never
//   returns (max_pool's argmax, LRN's norm) is kept as it is.
// Both closures take the inputs as arguments and capture everything else by value: graph mode
// keeps copies of them in the node and replays them with each Session::run's concrete inputs.
//
// The door, and only the door:
// - checks that the inputs are defined (optional ones may be undefined) and that their dtypes
//   follow the op's signature (one dtype T shared by the T inputs, from an allowed set);
// - runs the rule;
// - eager (no input is a graph tensor): runs the forward and, when grad mode is on and an input
//   requires grad, records the backward on the tape;
//   With a Tracer installed on the thread (an ONNX export), it also tells the tracer the op's type,
//   inputs, attributes and outputs;
// - graph (an input is a graph tensor): computes nothing and builds a node named as TensorFlow
//   names it, with the attributes, through the builder that lib/graph installs; a failing check or
//   rule then names the node being built and every input.
// So no op body branches on graph mode, replays itself or checks dtypes on its own.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "tapeflow/attr.h"
#include "tapeflow/autograd.h"

namespace tapeflow::autograd {

using Args = std::span<const Tensor>;

/// The dtypes an op's T may take (TensorFlow's type constraints).
enum class DTypes : std::uint8_t {
  Any,       // every dtype
  Numeric,   // all but bool
  Floating,  // float32, float64
};

/// What the door needs to know of an op besides its inputs and attributes.
struct OpDef {
  const char* type;  // TensorFlow's op type, the node's type and the record's name: "MatMul"
  const char* name;  // the function, as messages name it: "matmul"
  DTypes t = DTypes::Numeric;
  // One letter per input, the last one repeated for any further inputs:
  //   T  a T input: every T input has one dtype, from the set `t`
  //   t  an optional T input (may be undefined)
  //   i  indices: int32 or int64      u  integers: int32, int64 or uint8
  //   b  bool                         a  any dtype, its own
  //   o  optional, any dtype
  const char* signature = "T";
  // The inputs' names for messages, comma-separated ("labels,logits"); "input 1" when absent.
  const char* input_names = nullptr;
  // The node's default name in graph mode where TensorFlow's Python function gives it one of its
  // own ("truediv" for RealDiv, "concat" for ConcatV2); else the type.
  const char* node = nullptr;
  // Keeps `type` and `name` alive when they are not literals (CustomOp's).
  std::shared_ptr<const std::string> owner = nullptr;
};

/// One attribute, borrowed for the call (nothing is allocated: eager ops pay nothing for their
/// attributes); graph mode copies it into the node as an AttrValue.
class Attr {
 public:
  Attr(const char* name, bool v) : name_(name), value_(v) {}
  template <std::integral I>
    requires(!std::same_as<I, bool>)
  Attr(const char* name, I v) : name_(name), value_(static_cast<std::int64_t>(v)) {}
  Attr(const char* name, double v) : name_(name), value_(v) {}
  Attr(const char* name, DType v) : name_(name), value_(v) {}
  Attr(const char* name, const char* v) : name_(name), value_(std::string_view(v)) {}
  Attr(const char* name, std::string_view v) : name_(name), value_(v) {}
  Attr(const char* name, const std::string& v) : name_(name), value_(std::string_view(v)) {}
  Attr(const char* name, std::span<const std::int64_t> v) : name_(name), value_(v) {}
  Attr(const char* name, const std::vector<std::int64_t>& v) : name_(name), value_(std::span<const std::int64_t>(v)) {}
  Attr(const char* name, std::span<const char* const> v) : name_(name), value_(v) {}
  Attr(const char* name, const std::vector<int>& v) : name_(name), value_(std::span<const int>(v)) {}
  Attr(const char* name, const Shape& v) : name_(name), value_(&v) {}

  const char* name() const { return name_; }
  /// The owned value (graph mode).
  AttrValue value() const;

 private:
  const char* name_;
  std::variant<bool, std::int64_t, double, DType, std::string_view, std::span<const std::int64_t>, std::span<const int>,
               std::span<const char* const>, const Shape*>
      value_;
};

/// An op's inputs for one call: a braced list ({a, b}) or a vector (concat, add_n). Build it in
/// the call to apply, never ahead of it: a braced list lives until the call returns.
class Inputs {
 public:
  Inputs(std::initializer_list<Tensor> list) : span_(list.begin(), list.size()) {}
  Inputs(const std::vector<Tensor>& v) : span_(v) {}
  Inputs(Args s) : span_(s) {}
  Args span() const { return span_; }

 private:
  Args span_;
};

/// Outputs with the backward closure that the door records: `Grads(const Tensor& grad_output)`
/// for one output, `Grads(std::span<const Tensor> grad_outputs)` for several (an undefined entry:
/// no gradient reached that output).
template <class Out, class F>
struct WithBackward {
  Out outputs;
  F backward;
};
template <class F>
WithBackward<Tensor, F> with_backward(Tensor output, F backward) {
  return {std::move(output), std::move(backward)};
}
template <class F>
WithBackward<std::vector<Tensor>, F> with_backward(std::vector<Tensor> outputs, F backward) {
  return {std::move(outputs), std::move(backward)};
}

/// In a backward closure whose fastest form is a dedicated kernel: `kernel()` for a first-order
/// backward (nothing records), `ops()` (the same gradients written in differentiable ops, from the
/// inputs the closure kept) while a create_graph backward records, so that they can be
/// differentiated again. The op's gradcheck tests the first, its gradgradcheck the second.
template <class K, class O>
auto kernel_or_ops(K kernel, O ops) {
  return is_grad_enabled() ? ops() : kernel();
}

/// Whether an input's values are known now: always eagerly; in graph mode only for constants
/// (a rule may check the values it can see, e.g. gather's indices; the others when the graph runs).
inline bool known_value(const Tensor& t) { return !t.defined() || !t.impl()->node; }

// ------------------------------------------------------------------------- the graph's side

/// A graph node to build (graph mode): what the graph builder gets.
struct NodeRequest {
  const OpDef& def;
  Args inputs;
  std::initializer_list<Attr> attrs;
  std::vector<OutputSpec> outputs;
  /// The outputs from concrete inputs: the door's eager path with the op's rule and forward.
  std::function<std::vector<Tensor>(Args inputs)> replay;
};

/// What lib/graph plugs into the door (nothing below graph links it).
struct GraphBuilder {
  /// Adds the node to the graph of the symbolic inputs; returns its outputs (graph tensors).
  std::vector<Tensor> (*build)(NodeRequest& request);
  /// "\n  while building node 'hidden1/MatMul' (MatMul) from 'images:0' [?,784], a constant [3]":
  /// the text appended to an error raised while building the node of `def` from `inputs`.
  std::string (*describe)(const OpDef& def, Args inputs);
};
/// Installs the graph builder (Graph's constructor does).
void install_graph_builder(GraphBuilder builder);

// ------------------------------------------------------------------------- tracing

/// Sees every op applied eagerly on its thread while it is installed (`TraceScope`): what an
/// exporter reads (lib/io/onnx.cpp). An op whose forward applies other ops (a composite) is
/// entered before them and left after them, so a tracer sees the nesting.
class Tracer {
 public:
  virtual ~Tracer() = default;
  /// An op starts (the ops its forward applies nest inside it).
  virtual void enter() = 0;
  /// The op that entered last finished with `outputs` (an output may be an input, unchanged).
  virtual void leave(const OpDef& def, Args inputs, std::initializer_list<Attr> attrs, Args outputs) = 0;
  /// The op that entered last threw.
  virtual void abandon() = 0;
  /// A module's forward starts (nn::Module::operator()) and ends: for names and messages.
  virtual void enter_module(const void* /*module*/) {}
  virtual void leave_module() {}
};

/// The tracer of this thread, or nullptr (the door reads it for every eager op).
extern thread_local constinit Tracer* active_tracer;

/// RAII: installs a tracer on this thread while it lives (the previous one comes back after).
class TraceScope {
 public:
  explicit TraceScope(Tracer& tracer) : previous_(active_tracer) { active_tracer = &tracer; }
  ~TraceScope() { active_tracer = previous_; }
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;

 private:
  Tracer* previous_;
};

// ------------------------------------------------------------------------- the door

namespace door {

inline bool any_symbolic(Args in) {
  for (const Tensor& t : in)
    if (t.defined() && t.impl()->node) return true;
  return false;
}

/// The inputs against the op's signature: defined unless optional, dtypes allowed and T shared.
void check_inputs(const OpDef& def, Args in);
/// Inside a catch block: rethrows the current exception (an Error) with the text that names the
/// node being built and its inputs appended.
[[noreturn]] void rethrow_building(const OpDef& def, Args in);
std::vector<Tensor> build_node(NodeRequest& request);

template <class R>
constexpr bool kMultiOutput = std::is_same_v<R, std::vector<OutputSpec>>;

template <class R>
std::vector<OutputSpec> specs_of(const R& plan) {
  if constexpr (kMultiOutput<R>) return plan;
  else {
    static_assert(std::is_base_of_v<OutputSpec, R>, "an op's rule returns an OutputSpec (or a struct derived from "
                                                    "one) or a std::vector<OutputSpec>");
    return {static_cast<const OutputSpec&>(plan)};
  }
}

template <class T>
struct is_with_backward : std::false_type {};
template <class Out, class F>
struct is_with_backward<WithBackward<Out, F>> : std::true_type {};

/// The forward's result as the op's outputs, its backward recorded when there is one. An output
/// that is one of the inputs (reshape to the same shape) is returned as it is, unrecorded.
template <class Result>
auto finish(const OpDef& def, Args in, Result&& result) {
  if constexpr (is_with_backward<std::decay_t<Result>>::value) {
    auto& outs = result.outputs;
    if constexpr (std::is_same_v<std::decay_t<decltype(outs)>, Tensor>) {
      for (const Tensor& t : in)
        if (t.is_same(outs)) return std::move(outs);
      record(std::span<Tensor>(&outs, 1), in, def.type, std::move(result.backward), def.owner);
      return std::move(outs);
    } else {
      record(std::span<Tensor>(outs), in, def.type, std::move(result.backward), def.owner);
      return std::move(outs);
    }
  } else {
    return std::forward<Result>(result);
  }
}

template <class Rule, class Forward>
auto run(const OpDef& def, Args in, Rule& rule, Forward& forward) {
  check_inputs(def, in);
  const auto plan = rule(in);
  return finish(def, in, forward(in, plan));
}

template <class Out>
std::vector<Tensor> as_vector(Out&& out) {
  if constexpr (std::is_same_v<std::decay_t<Out>, Tensor>) return {std::forward<Out>(out)};
  else return std::forward<Out>(out);
}

/// door::run under the tracer: the op's inner ops nest between enter and leave.
template <class Rule, class Forward>
auto traced_run(Tracer& tracer, const OpDef& def, Args in, std::initializer_list<Attr> attrs, Rule& rule,
                Forward& forward) {
  tracer.enter();
  try {
    auto out = run(def, in, rule, forward);
    if constexpr (std::is_same_v<std::decay_t<decltype(out)>, Tensor>) tracer.leave(def, in, attrs, Args(&out, 1));
    else tracer.leave(def, in, attrs, Args(out));
    return out;
  } catch (...) {
    tracer.abandon();
    throw;
  }
}

}  // namespace door

/// Applies an op (see the top of this file).
template <class Rule, class Forward>
auto apply(const OpDef& def, Inputs inputs, std::initializer_list<Attr> attrs, Rule rule, Forward forward) {
  using R = std::decay_t<std::invoke_result_t<Rule&, Args>>;
  const Args in = inputs.span();
  if (!door::any_symbolic(in)) [[likely]] {
    if (active_tracer) [[unlikely]]
      return door::traced_run(*active_tracer, def, in, attrs, rule, forward);
    return door::run(def, in, rule, forward);
  }

  std::vector<OutputSpec> specs;
  try {
    door::check_inputs(def, in);
    specs = door::specs_of(rule(in));
  } catch (const Error&) {
    door::rethrow_building(def, in);
  }
  NodeRequest request{def, in, attrs, std::move(specs),
                      [def, rule, forward](Args values) mutable -> std::vector<Tensor> {
                        return door::as_vector(door::run(def, values, rule, forward));
                      }};
  std::vector<Tensor> outs = door::build_node(request);
  if constexpr (door::kMultiOutput<R>) return outs;
  else return std::move(outs[0]);
}

}  // namespace tapeflow::autograd
