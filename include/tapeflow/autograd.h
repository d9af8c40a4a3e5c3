#pragma once
/// The gradient tape.
///
/// An op that runs while grad mode is on and one of whose inputs requires grad appends a record
/// (a Node): the backward closure, an edge per input, and a sequence number. `backward()` collects
/// the records reachable from the output, replays them in reverse sequence order (a topological
/// order: an input's record is always older than its consumer's) and adds (`+=`) the gradients
/// into `.grad()` of the leaves. Replay and destruction are iterative: a chain of a million ops
/// neither recurses nor overflows the stack.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "tapeflow/tensor.h"

namespace tapeflow {

/// Gradients with respect to an op's inputs, in input order; an undefined Tensor means "none".
using Grads = std::vector<Tensor>;

namespace autograd {

/// Where a gradient flows: into the record of a computed input, or into a leaf's .grad().
struct Edge {
  std::shared_ptr<Node> node;
  std::shared_ptr<detail::TensorImpl> leaf;
};

/// One tape record. The backward closure lives in the same allocation (see FnNode), so
/// recording an op costs one allocation.
struct Node {
  Node(const char* name, std::span<const Tensor> inputs, const Tensor& output);
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  /// Runs the backward closure: the gradients of the inputs from the output's.
  virtual Grads apply(const Tensor& grad_output) = 0;
  /// Frees the closure and what it saved.
  virtual void release() = 0;

  std::span<Edge> next() { return {edges_.get() ? edges_.get() : inline_, size_}; }

  const char* name;        // the op, for messages ("MatMul")
  std::uint64_t sequence;  // tape order
  Shape output_shape;      // the shape a gradient arriving here must have
  DType output_dtype;
  bool released = false;
  // Scratch state of one backward pass.
  Tensor pending_grad;
  std::uint64_t visit_mark = 0;

 private:
  static constexpr std::size_t kInline = 3;
  Edge inline_[kInline];
  std::unique_ptr<Edge[]> edges_;  // when there are more than kInline inputs
  std::size_t size_ = 0;
};

template <class F>
struct FnNode final : Node {
  FnNode(const char* n, std::span<const Tensor> inputs, const Tensor& output, F f)
      : Node(n, inputs, output), fn(std::move(f)) {}
  Grads apply(const Tensor& g) override { return (*fn)(g); }
  void release() override { fn.reset(); }
  std::optional<F> fn;
};

/// Records alive right now (a record lives while a tensor, or a later record, can reach it).
std::int64_t live_records();

/// Is recording on for this thread? (default: on)
bool is_grad_enabled();
void set_grad_enabled(bool enabled);

/// Would an op with these inputs be recorded now? (grad mode on and an input requires grad)
bool needs_record(std::span<const Tensor> inputs);
/// Makes `node` the record of `output` (used by record()).
Tensor attach_record(Tensor output, std::shared_ptr<Node> node);

/// Appends a record producing `output` from `inputs` when grad mode is on and an input requires
/// grad; otherwise returns `output` untouched. `backward` (Grads(const Tensor& grad_output)) must
/// capture by value only what it reads (never `output` itself: that is an ownership cycle) and
/// return one entry per input (undefined where no gradient is needed).
template <class F>
Tensor record(Tensor output, std::span<const Tensor> inputs, const char* name, F backward) {
  if (!needs_record(inputs)) return output;
  auto node = std::make_shared<FnNode<F>>(name, inputs, output, std::move(backward));
  return attach_record(std::move(output), std::move(node));
}
template <class F>
Tensor record(Tensor output, std::initializer_list<Tensor> inputs, const char* name, F backward) {
  return record(std::move(output), std::span<const Tensor>(inputs.begin(), inputs.size()), name,
                std::move(backward));
}

/// Backpropagates from `outputs` (each with its gradient; a scalar's may be undefined = 1).
void backward(std::span<const Tensor> outputs, std::span<const Tensor> grad_outputs = {},
              bool retain_graph = false);

/// The gradients of `outputs` with respect to `inputs`, without touching any `.grad()`.
/// An input the outputs do not depend on gets a zero gradient, unless `allow_unused` is false,
/// in which case that is an error.
std::vector<Tensor> grad(std::span<const Tensor> outputs, std::span<const Tensor> inputs,
                         std::span<const Tensor> grad_outputs = {}, bool retain_graph = false,
                         bool allow_unused = true);
inline std::vector<Tensor> grad(std::initializer_list<Tensor> outputs, std::initializer_list<Tensor> inputs,
                                std::initializer_list<Tensor> grad_outputs = {}, bool retain_graph = false,
                                bool allow_unused = true) {
  return grad(std::span<const Tensor>(outputs.begin(), outputs.size()),
              std::span<const Tensor>(inputs.begin(), inputs.size()),
              std::span<const Tensor>(grad_outputs.begin(), grad_outputs.size()), retain_graph,
              allow_unused);
}

}  // namespace autograd

/// Turns recording off in its scope (evaluation, optimizer updates).
class NoGradGuard {
 public:
  NoGradGuard() : previous_(autograd::is_grad_enabled()) { autograd::set_grad_enabled(false); }
  ~NoGradGuard() { autograd::set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

/// A user-defined differentiable op (like torch.autograd.Function / tf.custom_gradient):
/// `forward` computes the output from the inputs (recording nothing), `backward` maps the output
/// gradient to one gradient per input and may use any tapeflow op.
///
///   auto cube = tapeflow::CustomOp("Cube",
///       [](std::span<const Tensor> x) { return x[0] * x[0] * x[0]; },
///       [](std::span<const Tensor> x, const Tensor& y, const Tensor& g) {
///         return Grads{g * 3.0 * square(x[0])}; });
///   Tensor y = cube({x});
class CustomOp {
 public:
  using Forward = std::function<Tensor(std::span<const Tensor> inputs)>;
  using Backward = std::function<Grads(std::span<const Tensor> inputs, const Tensor& output,
                                       const Tensor& grad_output)>;
  CustomOp(std::string name, Forward forward, Backward backward);
  Tensor operator()(std::vector<Tensor> inputs) const;

 private:
  std::shared_ptr<const std::string> name_;
  Forward forward_;
  Backward backward_;
};

/// Tolerances of gradcheck: |analytic - numeric| <= atol + rtol * |numeric|, element-wise.
struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
};

/// Compares the tape's gradients of `fn(inputs)` (summed with fixed random weights when not a
/// scalar) with central finite differences, for every input that requires grad. Inputs must be
/// float64. Throws AutogradError describing the first mismatch (input, index, both values);
/// returns true otherwise.
bool gradcheck(const std::function<Tensor(std::span<const Tensor>)>& fn, std::vector<Tensor> inputs,
               GradcheckOptions options = {});

}  // namespace tapeflow
