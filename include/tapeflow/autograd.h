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
#include <string>
#include <type_traits>
#include <vector>

#include "tapeflow/attr.h"
#include "tapeflow/tensor.h"

namespace tapeflow {

/// Gradients with respect to an op's inputs, in input order; an undefined Tensor means "none".
using Grads = std::vector<Tensor>;

namespace autograd {

/// Where a gradient flows: into output `input_nr` of the record of a computed input, or into a
/// leaf's .grad().
struct Edge {
  std::shared_ptr<Node> node;
  std::shared_ptr<TensorImpl> leaf;
  std::uint32_t input_nr = 0;
};

/// One tape record: an op's backward and the edges to its inputs. An op may have several outputs
/// (each output tensor knows its index, `output_index`); the backward then gets one gradient per
/// output, undefined for an output no gradient reached. The backward closure lives in the same
/// allocation (see FnNode), so recording an op costs one allocation.
struct Node {
  Node(const char* name, std::span<const Tensor> inputs, std::span<const Tensor> outputs);
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  /// Runs the backward closure: the gradients of the inputs from the outputs' (one per output;
  /// an undefined one means none arrived, and at least one is defined).
  virtual Grads apply(std::span<const Tensor> grad_outputs) = 0;
  /// Frees the closure and what it saved.
  virtual void release() = 0;

  std::span<Edge> next() { return {edges_.get() ? edges_.get() : inline_, size_}; }
  std::size_t num_outputs() const { return num_outputs_; }
  /// The shape and dtype a gradient arriving at output i must have.
  const Shape& output_shape(std::size_t i) const { return slot(i).shape; }
  DType output_dtype(std::size_t i) const { return slot(i).dtype; }
  /// Scratch state of one backward pass: the gradient gathered so far for output i.
  Tensor& pending_grad(std::size_t i) { return slot(i).pending; }

  const char* name;        // the op, for messages ("MatMul")
  std::shared_ptr<const std::string> name_owner;  // keeps `name` alive when it is not a literal
  std::uint64_t sequence;  // tape order
  bool released = false;
  std::shared_ptr<HookList> hooks;  // hooks on its outputs (Tensor::register_hook)
  std::uint64_t visit_mark = 0;  // scratch state of one backward pass

 private:
  struct OutputSlot {
    Shape shape;
    DType dtype = float32;
    Tensor pending;
  };
  OutputSlot& slot(std::size_t i) { return i == 0 ? out0_ : more_[i - 1]; }
  const OutputSlot& slot(std::size_t i) const { return i == 0 ? out0_ : more_[i - 1]; }

  static constexpr std::size_t kInline = 3;
  Edge inline_[kInline];
  std::unique_ptr<Edge[]> edges_;  // when there are more than kInline inputs
  std::size_t size_ = 0;
  OutputSlot out0_;
  std::unique_ptr<OutputSlot[]> more_;  // outputs 1.. of a multi-output op
  std::size_t num_outputs_ = 1;
};

/// A record whose backward is the closure `fn`: `Grads(const Tensor& grad_output)` for an op with
/// one output, `Grads(std::span<const Tensor> grad_outputs)` for several.
template <class F>
struct FnNode final : Node {
  FnNode(const char* n, std::span<const Tensor> inputs, std::span<const Tensor> outputs, F f)
      : Node(n, inputs, outputs), fn(std::move(f)) {}
  Grads apply(std::span<const Tensor> g) override {
    if constexpr (std::is_invocable_v<F&, const Tensor&>) return (*fn)(g[0]);
    else return (*fn)(g);
  }
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
/// Whether one of `outputs` is float32 or float64.
inline bool any_floating(std::span<const Tensor> outputs) {
  for (const Tensor& t : outputs)
    if (is_floating(t.dtype())) return true;
  return false;
}
/// Makes `node` the record of the floating `outputs` (output i becomes its output i).
void attach_record(std::span<Tensor> outputs, std::shared_ptr<Node> node);

/// Appends a record producing `outputs` from `inputs` when grad mode is on, an input requires
/// grad and an output is floating point (only those outputs get the record: an integer or bool
/// output never requires grad, as in PyTorch); otherwise leaves the outputs untouched. `backward` must capture by value only what it
/// reads (never an output itself: that is an ownership cycle) and return one entry per input
/// (undefined where no gradient is needed). Ops call this through the door (lib/autograd/door.h),
/// never directly.
template <class F>
void record(std::span<Tensor> outputs, std::span<const Tensor> inputs, const char* name, F backward,
            std::shared_ptr<const std::string> name_owner = nullptr) {
  if (!needs_record(inputs) || !any_floating(outputs)) return;
  auto node = std::make_shared<FnNode<F>>(name, inputs, outputs, std::move(backward));
  node->name_owner = std::move(name_owner);
  attach_record(outputs, std::move(node));
}

/// A tensor that a backward closure keeps (PyTorch's SavedVariable). Saving notes the version of
/// the tensor's data; reading it back (`*s`, `s->`) checks that no in-place operation has changed
/// the data since, and otherwise throws an AutogradError naming the op whose backward needs it,
/// the tensor's shape and both versions: the gradient would silently use the new values. The
/// metadata (shape, dtype, requires_grad) reads without the check: a backward that needs only an
/// input's shape does not depend on its values.
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(Tensor t) : tensor_(std::move(t)) {
    if (tensor_.defined() && tensor_.impl()->storage) version_ = tensor_.impl()->storage->version;
  }
  const Tensor& operator*() const {
    check();
    return tensor_;
  }
  const Tensor* operator->() const {
    check();
    return &tensor_;
  }
  bool defined() const { return tensor_.defined(); }
  const Shape& shape() const { return tensor_.shape(); }
  DType dtype() const { return tensor_.dtype(); }
  bool requires_grad() const { return tensor_.requires_grad(); }

 private:
  void check() const {
    if (tensor_.defined() && tensor_.impl()->storage && tensor_.impl()->storage->version != version_) [[unlikely]]
      throw_modified();
  }
  [[noreturn]] void throw_modified() const;
  Tensor tensor_;
  std::uint64_t version_ = 0;
};

/// Saves a tensor for a backward closure (see SavedTensor).
inline SavedTensor save(Tensor t) { return SavedTensor(std::move(t)); }
/// Saves an op's own output for its backward closure: detached, since an output held by its own
/// record would never be freed. Read it back with saved_output().
inline SavedTensor save_output(const Tensor& output) { return SavedTensor(output.detach()); }

/// In a backward closure: the op's output `index`, saved with save_output(), after the version
/// check, connected to the tape again while a create_graph backward records, so that the
/// closure's expressions of it differentiate through the op; the saved data itself otherwise (no
/// cost). PyTorch's saved outputs.
Tensor saved_output(const SavedTensor& output, std::size_t index = 0);

/// Backpropagates from `outputs` (each with its gradient; a scalar's may be undefined = 1) into
/// `.grad()` of the leaves. See BackwardOptions (tensor.h).
void backward(std::span<const Tensor> outputs, std::span<const Tensor> grad_outputs = {},
              BackwardOptions options = {});

/// The options of grad() (PyTorch's torch::autograd::grad).
struct GradOptions {
  /// One per output (its shape); empty: ones for scalar outputs.
  std::vector<Tensor> grad_outputs = {};
  /// Keep the records for another backward; by default, what create_graph is.
  std::optional<bool> retain_graph = std::nullopt;
  /// Record the backward pass itself, so that the gradients can be differentiated again.
  bool create_graph = false;
  /// An input the outputs do not depend on gets a zero gradient; false: that is an error.
  bool allow_unused = true;
};

/// The gradients of `outputs` with respect to `inputs` (leaves or computed tensors that require
/// grad), without touching any `.grad()`.
std::vector<Tensor> grad(std::span<const Tensor> outputs, std::span<const Tensor> inputs, GradOptions options = {});
inline std::vector<Tensor> grad(std::initializer_list<Tensor> outputs, std::initializer_list<Tensor> inputs,
                                GradOptions options = {}) {
  return grad(std::span<const Tensor>(outputs.begin(), outputs.size()),
              std::span<const Tensor>(inputs.begin(), inputs.size()), std::move(options));
}

}  // namespace autograd

/// Sets recording on or off in its scope, and back to what it was after (torch::AutoGradMode).
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled) : previous_(autograd::is_grad_enabled()) {
    autograd::set_grad_enabled(enabled);
  }
  ~GradModeGuard() { autograd::set_grad_enabled(previous_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool previous_;
};

/// Turns recording off in its scope (evaluation, optimizer updates).
class NoGradGuard : GradModeGuard {
 public:
  NoGradGuard() : GradModeGuard(false) {}
};

/// Turns recording on in its scope, even inside a NoGradGuard (torch::AutoGradMode(true)).
class EnableGradGuard : GradModeGuard {
 public:
  EnableGradGuard() : GradModeGuard(true) {}
};

/// What a CustomOp's forward hands to its backward (PyTorch's AutogradContext): the tensors and
/// values the backward needs.
class CustomOpContext {
 public:
  /// In the forward: keeps tensors for the backward (inputs, outputs of the forward, or tensors it
  /// computed), in order.
  void save_for_backward(std::vector<Tensor> tensors);
  /// In the backward: the saved tensors, in the order saved, each checked against in-place changes
  /// since the forward (an AutogradError names the op, the tensor's shape and both versions). A
  /// saved input is the input itself and a saved output is connected to the op's record, so that a
  /// backward written in tapeflow ops differentiates again (create_graph).
  std::vector<Tensor> saved_tensors() const;
  /// Whether the op's input i requires grad: the backward may return an undefined gradient for
  /// one that does not.
  bool needs_input_grad(std::size_t i) const;
  /// Other values the backward needs (sizes, flags), by name: `ctx.saved_data["axis"] = 1L`.
  AttrMap saved_data;

 private:
  friend class CustomOp;
  std::vector<Tensor> to_save_;                // during the forward
  std::vector<autograd::SavedTensor> saved_;   // after it
  std::vector<int> output_index_;              // of each saved tensor: which output it is, or -1
  std::vector<bool> needs_input_grad_;
  bool forward_done_ = false;
};

/// A user-defined differentiable op (torch.autograd.Function, tf.custom_gradient): a forward that
/// computes the outputs from the inputs (recording nothing) and saves what the backward needs in
/// a context, and a backward that maps the outputs' gradients (one per output; zeros for an
/// output no gradient reached) to one gradient per input and may use any tapeflow op; written in
/// ops, it is differentiable again (create_graph).
///
///   CustomOp sincos("SinCos",
///       [](CustomOpContext& ctx, std::span<const Tensor> x) {
///         ctx.save_for_backward({x[0]});
///         return std::vector<Tensor>{sin(x[0]), cos(x[0])}; },
///       [](CustomOpContext& ctx, std::span<const Tensor> g) {
///         Tensor x = ctx.saved_tensors()[0];
///         return Grads{g[0] * cos(x) - g[1] * sin(x)}; });
///   std::vector<Tensor> sc = sincos.apply({x});
///
/// One output has a shorthand whose backward gets the inputs, the output and its gradient:
///
///   CustomOp cube("Cube",
///       [](std::span<const Tensor> x) { return x[0] * x[0] * x[0]; },
///       [](std::span<const Tensor> x, const Tensor& y, const Tensor& g) {
///         return Grads{g * 3.0 * square(x[0])}; });
///   Tensor y = cube({x});
///
/// With a shape function (the outputs' shapes and dtypes from the inputs'), the op also works on
/// graph tensors (graph mode): a node named after the op, run by Session::run, whose gradients
/// come from the same backward.
class CustomOp {
 public:
  using Forward = std::function<std::vector<Tensor>(CustomOpContext& ctx, std::span<const Tensor> inputs)>;
  using Backward = std::function<Grads(CustomOpContext& ctx, std::span<const Tensor> grad_outputs)>;
  using ShapeFn = std::function<std::vector<OutputSpec>(std::span<const Tensor> inputs)>;
  CustomOp(std::string name, Forward forward, Backward backward, ShapeFn shape = nullptr);

  /// The one-output shorthand.
  using OneForward = std::function<Tensor(std::span<const Tensor> inputs)>;
  using OneBackward = std::function<Grads(std::span<const Tensor> inputs, const Tensor& output,
                                          const Tensor& grad_output)>;
  using OneShapeFn = std::function<OutputSpec(std::span<const Tensor> inputs)>;
  CustomOp(std::string name, OneForward forward, OneBackward backward, OneShapeFn shape = nullptr);

  /// All the outputs.
  std::vector<Tensor> apply(std::vector<Tensor> inputs) const;
  /// The output of a one-output op.
  Tensor operator()(std::vector<Tensor> inputs) const;

 private:
  std::shared_ptr<const std::string> name_;  // shared with the records and nodes that name the op
  Forward forward_;
  Backward backward_;
  ShapeFn shape_;
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
/// returns true otherwise. The finite differences evaluate fn under NoGradGuard: a fn that takes
/// gradients itself turns recording back on (EnableGradGuard).
bool gradcheck(const std::function<Tensor(std::span<const Tensor>)>& fn, std::vector<Tensor> inputs,
               GradcheckOptions options = {});

/// Second derivatives (PyTorch's gradgradcheck): the gradient of fn's first gradient (taken with
/// create_graph and summed with fixed random weights) against central finite differences of that
/// first gradient, for every input that requires grad. Same inputs, tolerances and errors as
/// gradcheck; an op whose second derivative tapeflow does not provide makes it throw, naming the op.
bool gradgradcheck(const std::function<Tensor(std::span<const Tensor>)>& fn, std::vector<Tensor> inputs,
                   GradcheckOptions options = {});

}  // namespace tapeflow
