#pragma once
/// Tensor: a value-semantic handle over shared state.
///
/// - Copying a Tensor shares it: both handles see the same data, shape, grad and record (like
///   torch::Tensor). `clone()` copies the data. `reshape` and `detach` share the data buffer.
/// - Storage is contiguous, row-major and 64-byte aligned.
/// - The tape: when grad mode is on (see autograd.h) and an op's input requires grad, the op
///   appends a record to the tape and the output holds it (`grad_fn`). `backward()` replays the
///   records reachable from the output in reverse tape order and accumulates into `.grad()` of the
///   leaves that require grad. Records are owned by the tensors that need them and are freed as
///   soon as nothing can reach them.
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tapeflow/dtype.h"
#include "tapeflow/error.h"
#include "tapeflow/shape.h"

namespace tapeflow {

namespace autograd { struct Node; }
namespace graph { class Node; }
class Tensor;

/// A tensor hook (PyTorch's Tensor.register_hook): called with the gradient of its tensor when a
/// backward pass computes it; returns the gradient to use instead, or an undefined tensor to keep it.
using GradHook = std::function<Tensor(const Tensor& grad)>;

namespace autograd {
/// The hooks of a leaf, or of the outputs of a record.
struct HookList {
  struct Entry {
    std::uint64_t id;
    std::size_t output;  // the record's output it watches (0 for a leaf)
    GradHook fn;
  };
  std::vector<Entry> entries;
};
}  // namespace autograd

/// What register_hook returns: remove() takes the hook away (PyTorch's RemovableHandle).
class HookHandle {
 public:
  HookHandle() = default;
  /// Removes the hook; nothing when it is already gone.
  void remove();

 private:
  friend class Tensor;
  std::weak_ptr<autograd::HookList> list_;
  std::uint64_t id_ = 0;
};

// The state behind Tensor handles (what a copy shares). Tensor's methods are the interface; these
// are in the header so that those methods inline.

/// An owned buffer of bytes: 64-byte aligned, except that buffers of at most kInline bytes live
/// inside the Storage itself (16-byte aligned) to save an allocation for tiny tensors. Freed
/// buffers are kept by their thread for reuse (small ones by size class, large ones up to 64 MiB
/// in all), since training loops request the same sizes every step.
struct Storage {
  explicit Storage(std::size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  static constexpr std::size_t kInline = 32;
  void* data = nullptr;
  std::size_t bytes = 0;
  /// How many in-place changes the data has had (see Tensor::version).
  std::uint64_t version = 0;
  alignas(16) unsigned char inline_data[kInline];
};

struct TensorImpl {
  ~TensorImpl();
  std::shared_ptr<Storage> storage;
  Shape shape;
  DType dtype = DType::Float32;
  bool requires_grad = false;
  std::shared_ptr<autograd::Node> grad_fn;  // the record that produced this tensor (non-leaf)
  std::shared_ptr<TensorImpl> grad;         // accumulated gradient (leaves)
  // A leaf's hooks (a computed tensor's are its record's; a graph tensor's, its node's, shared by
  // the node's handles).
  std::shared_ptr<autograd::HookList> hooks;
  std::string name;                          // optional, for messages
  // Graph tensors (graph mode) have no storage: they are output `output_index` of a graph node
  // (index -1: the node itself, as an operation to run). See tapeflow/graph/graph.h. A computed
  // eager tensor is output `output_index` of its record (grad_fn).
  std::shared_ptr<graph::Node> node;
  int output_index = 0;
};

/// The options of Tensor::backward and autograd::backward (PyTorch's).
struct BackwardOptions {
  /// Keep what the replayed records saved, for another backward through them; else they release it.
  bool retain_graph = false;
  /// Record the backward pass itself on the tape, so that the gradients (in .grad(), or from
  /// autograd::grad) can be differentiated again: second and higher derivatives. Implies
  /// retain_graph. A leaf's recorded .grad() holds records that hold the leaf (as in PyTorch):
  /// clear it when done (set_grad(Tensor()), an optimizer's zero_grad()), or use autograd::grad,
  /// which leaves .grad() alone.
  bool create_graph = false;
};

class Tensor {
 public:
  /// An undefined tensor (no data); `defined()` is false.
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  /// A new uninitialised tensor of the given shape and dtype.
  static Tensor empty(const Shape& shape, DType dtype = float32);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return checked().shape; }
  DType dtype() const { return checked().dtype; }
  int rank() const { return shape().rank(); }
  /// Dimension i; negative i counts from the back.
  std::int64_t dim(int i) const { return shape().dim(i); }
  std::int64_t numel() const { return shape().numel(); }

  /// True for a graph tensor: a symbolic output of a graph node (graph mode), which has a static
  /// shape (possibly with unknown dimensions) and a dtype but no data until Session::run.
  bool is_symbolic() const { return checked().node != nullptr; }
  /// A graph tensor's name, as TensorFlow prints it ("hidden1/MatMul:0"); an operation's is its
  /// node's ("train/GradientDescent"). Empty for an eager tensor.
  const std::string& name() const { return checked().name; }

  /// Typed access to the elements; throws DTypeError when T does not match dtype(), Error for a
  /// graph tensor (it has no data: run it with Session::run).
  template <class T> T* data() { check_dtype(dtype_of<T>); return static_cast<T*>(raw_data()); }
  template <class T> const T* data() const { check_dtype(dtype_of<T>); return static_cast<const T*>(raw_data()); }
  void* raw_data() const;
  std::size_t nbytes() const;

  /// The single value of a one-element tensor, converted to T.
  template <class T = double> T item() const;
  /// All elements, converted to T, in row-major order.
  template <class T> std::vector<T> to_vector() const;

  /// A copy of the data (no record; the copy is a leaf that does not require grad).
  Tensor clone() const;
  /// The values converted to `dtype` (same as cast(): recorded when differentiable, and this
  /// very tensor when it already has that dtype).
  Tensor to(DType dtype) const;
  /// A tensor sharing the data but cut from the tape: no record, requires_grad false.
  Tensor detach() const;

  /// How many times in-place operations (add_, copy_, fill_, an optimizer's step, a checkpoint
  /// load...) have changed this tensor's data; tensors sharing the data (reshape, detach) share
  /// it. A backward that reads a tensor its op saved checks that the version has not moved since,
  /// and otherwise throws an AutogradError: the gradient would be computed from the new values
  /// (PyTorch's `_version`).
  std::uint64_t version() const;
  /// Marks the data as changed in place. tapeflow's in-place functions do it; call it after
  /// writing through data<T>() into a tensor that a recorded op may have saved.
  void bump_version() const;

  bool requires_grad() const { return checked().requires_grad; }
  /// Marks a leaf as needing gradients (in place); returns *this.
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const { return checked().grad_fn == nullptr; }
  /// The accumulated gradient of a leaf (undefined until a backward() reaches it).
  Tensor grad() const;
  /// Replace (or with an undefined tensor, clear) the accumulated gradient.
  void set_grad(const Tensor& g);
  /// Calls `hook` with this tensor's gradient whenever a backward pass computes it, before the
  /// gradient goes on (into .grad() for a leaf, to the record that produced it otherwise); a
  /// defined result replaces the gradient (same shape and dtype), e.g. to clip it or to log its
  /// norm. Hooks run in the order registered. An eager tensor must require grad. On a graph tensor
  /// the hook runs in each Session run that takes gradients through that tensor's value.
  HookHandle register_hook(GradHook hook) const;
  /// The tape record that produced this tensor, if any.
  const std::shared_ptr<autograd::Node>& grad_fn() const { return checked().grad_fn; }

  /// Backpropagate from this tensor into `.grad()` of the leaves it was computed from. A non-scalar
  /// needs `gradient` (same shape). See BackwardOptions.
  void backward(const Tensor& gradient = Tensor(), BackwardOptions options = {}) const;
  /// backward({.create_graph = true}), for a scalar.
  void backward(BackwardOptions options) const { backward(Tensor(), options); }

  /// True when both handles share the same state.
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }

  /// numpy-style text with shape and dtype: `tensor([[1, 2], [3, 4]], shape=[2,2], dtype=int32)`.
  std::string str() const;

 private:
  const TensorImpl& checked() const {
    if (!impl_) [[unlikely]] throw_undefined();
    return *impl_;
  }
  void check_dtype(DType expected) const {
    if (checked().dtype != expected) [[unlikely]] throw_dtype_mismatch(expected);
  }
  [[noreturn]] static void throw_undefined();
  [[noreturn]] void throw_dtype_mismatch(DType expected) const;
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

/// The static type of an op's output: its shape (graph mode: possibly with unknown dimensions,
/// `[?,784]`) and dtype.
struct OutputSpec {
  Shape shape;
  DType dtype = float32;
};

// ---------------------------------------------------------------------------- factories

/// All zeros / ones / `value`.
Tensor zeros(const Shape& shape, DType dtype = float32);
Tensor ones(const Shape& shape, DType dtype = float32);
Tensor full(const Shape& shape, double value, DType dtype = float32);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
/// A 0-d tensor holding `value`.
Tensor scalar(double value, DType dtype = float32);
/// [start, start+step, ...) below `stop` (numpy's arange). 1-D.
Tensor arange(double start, double stop, double step = 1.0, DType dtype = float32);
inline Tensor arange(double stop) { return arange(0.0, stop); }

/// A tensor from a flat vector of values and a shape (numel must match).
template <class T> Tensor from_vector(const std::vector<T>& values, const Shape& shape);
template <class T> Tensor from_vector(const std::vector<T>& values) {
  return from_vector(values, Shape{static_cast<std::int64_t>(values.size())});
}

/// Nested initializer lists: tensor({{1, 2}, {3, 4}}) is float32 [2,2].
/// Ragged lists throw ShapeError. A single column such as {{1}, {2}} is ambiguous in C++ (each
/// {1} may be a number): write reshape(tensor({1, 2}), {2, 1}).
Tensor tensor(std::initializer_list<double> v, DType dtype = float32);
Tensor tensor(std::initializer_list<std::initializer_list<double>> v, DType dtype = float32);
Tensor tensor(std::initializer_list<std::initializer_list<std::initializer_list<double>>> v,
              DType dtype = float32);
Tensor tensor(
    std::initializer_list<std::initializer_list<std::initializer_list<std::initializer_list<double>>>> v,
    DType dtype = float32);

}  // namespace tapeflow

template <>
struct fmt::formatter<tapeflow::Tensor> : fmt::formatter<std::string> {
  auto format(const tapeflow::Tensor& t, fmt::format_context& ctx) const {
    return fmt::formatter<std::string>::format(t.str(), ctx);
  }
};
template <>
struct fmt::formatter<tapeflow::Shape> : fmt::formatter<std::string> {
  auto format(const tapeflow::Shape& s, fmt::format_context& ctx) const {
    return fmt::formatter<std::string>::format(s.str(), ctx);
  }
};
