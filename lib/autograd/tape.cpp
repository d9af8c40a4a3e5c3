// The tape: records, iterative backward, iterative destruction.
#include <algorithm>
#include <atomic>
#include <unordered_map>

#include <fmt/format.h>

#include "tapeflow/autograd.h"
#include "tapeflow/ops/elementwise.h"

namespace tapeflow {
namespace autograd {
namespace {

thread_local bool grad_enabled = true;
std::atomic<std::uint64_t> next_sequence{1};
std::atomic<std::uint64_t> next_visit{1};
std::atomic<std::int64_t> live{0};

// Destroying the last handle of a long chain of records would recurse once per record. Instead,
// a record about to lose its last owner is parked here and destroyed by the outermost destructor
// in a loop.
struct Graveyard {
  std::vector<std::shared_ptr<Node>> pending;
  bool draining = false;
};
thread_local Graveyard graveyard;

void bury(std::shared_ptr<Node>& n) {
  if (n && n.use_count() == 1) graveyard.pending.push_back(std::move(n));
  n.reset();
}

void drain() {
  if (graveyard.draining) return;
  graveyard.draining = true;
  while (!graveyard.pending.empty()) {
    std::shared_ptr<Node> n = std::move(graveyard.pending.back());
    graveyard.pending.pop_back();
    n.reset();  // its destructor parks its own inputs' records
  }
  graveyard.draining = false;
}

}  // namespace

Node::Node(const char* n, std::span<const Tensor> inputs, std::span<const Tensor> outputs)
    : name(n), sequence(next_sequence.fetch_add(1, std::memory_order_relaxed)), size_(inputs.size()),
      num_outputs_(outputs.size()) {
  live.fetch_add(1, std::memory_order_relaxed);
  if (size_ > kInline) edges_ = std::make_unique<Edge[]>(size_);
  std::span<Edge> e = next();
  for (std::size_t i = 0; i < size_; ++i) {
    const Tensor& t = inputs[i];
    if (!t.defined() || !t.requires_grad()) continue;
    if (t.grad_fn()) {
      e[i].node = t.grad_fn();
      e[i].input_nr = static_cast<std::uint32_t>(t.impl()->output_index);
    } else {
      e[i].leaf = t.impl();
    }
  }
  if (num_outputs_ > 1) more_ = std::make_unique<OutputSlot[]>(num_outputs_ - 1);
  for (std::size_t i = 0; i < num_outputs_; ++i) {
    slot(i).shape = outputs[i].shape();
    slot(i).dtype = outputs[i].dtype();
  }
}

Node::~Node() {
  live.fetch_sub(1, std::memory_order_relaxed);
  bool outer = !graveyard.draining;
  if (outer) graveyard.draining = true;
  for (Edge& e : next()) {
    bury(e.node);
    e.leaf.reset();
  }
  for (std::size_t i = 0; i < num_outputs_; ++i) slot(i).pending = Tensor();
  if (outer) {
    graveyard.draining = false;
    drain();
  }
}

std::int64_t live_records() { return live.load(); }
bool is_grad_enabled() { return grad_enabled; }
void set_grad_enabled(bool enabled) { grad_enabled = enabled; }

bool needs_record(std::span<const Tensor> inputs) {
  if (!grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void attach_record(std::span<Tensor> outputs, std::shared_ptr<Node> node) {
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    if (!is_floating(outputs[i].dtype())) continue;
    auto& impl = *outputs[i].impl();
    impl.grad_fn = node;
    impl.output_index = static_cast<int>(i);
    impl.requires_grad = true;
  }
}

namespace {

void check_grad_shape(const char* where, const Shape& expected, DType dtype, const Tensor& g) {
  if (g.shape() != expected)
    throw AutogradError(fmt::format("backward of {}: gradient of shape {} for an output of shape {}", where,
                                    g.shape().str(), expected.str()));
  if (g.dtype() != dtype)
    throw AutogradError(fmt::format("backward of {}: gradient of dtype {} for an output of dtype {}", where,
                                    dtype_name(g.dtype()), dtype_name(dtype)));
}

// Adds g into slot (a gradient being summed). Out of place while a create_graph pass records
// (the sum must be a tape record) or when something else holds slot's data (a gradient a backward
// returned for two inputs, a hook's); in place otherwise, as PyTorch's InputBuffer: a weight used
// at every step of a recurrent network receives one gradient per step, and a new buffer for each
// partial sum would cost an allocation and a pass more each time.
void accumulate(Tensor& slot, const Tensor& g) {
  if (!slot.defined()) {
    slot = g;
    return;
  }
  const std::shared_ptr<TensorImpl>& impl = slot.impl();
  const bool alone = impl.use_count() == 1 && impl->storage && impl->storage.use_count() == 1 && !impl->grad_fn &&
                     !impl->requires_grad;
  if (alone && !grad_enabled && slot.shape() == g.shape() && slot.dtype() == g.dtype()) axpy_(slot, 1.0, g);
  else slot = slot + g;
}

// Accumulates into a leaf's .grad(): the first gradient is stored as a tensor of its own (never
// a view of someone else's data), later ones are added in place. A gradient that nothing else
// references (the usual case: a backward function's fresh result) is taken as it is rather than
// copied, as PyTorch's AccumulateGrad does. With create_graph the gradient keeps its record, and
// later ones are added out of place (recorded), so that .grad() can be differentiated.
void accumulate_leaf(TensorImpl& leaf, Tensor&& g, bool create_graph) {
  if (g.shape() != leaf.shape)
    throw AutogradError(fmt::format("gradient of shape {} cannot accumulate into .grad() of a leaf of shape {}",
                                    g.shape().str(), leaf.shape.str()));
  if (create_graph) {
    leaf.grad = leaf.grad ? (Tensor(leaf.grad) + g).impl() : g.impl();
    return;
  }
  if (leaf.grad && (leaf.grad->grad_fn || leaf.grad.use_count() > 1)) {  // shared or recorded: not in place
    leaf.grad = (Tensor(leaf.grad) + g).detach().impl();
    return;
  }
  if (!leaf.grad) {
    const auto& impl = g.impl();
    const bool sole_owner = impl.use_count() == 1 && impl->storage && impl->storage.use_count() == 1 &&
                            !impl->grad_fn && !impl->requires_grad;
    leaf.grad = sole_owner ? impl : g.clone().impl();
  } else {
    Tensor acc(leaf.grad);
    add_(acc, g);
  }
}

Tensor seed_gradient(const Tensor& out, const Tensor* given) {
  if (given && given->defined()) {
    if (given->shape() != out.shape())
      throw AutogradError(fmt::format("backward: the gradient has shape {} but the output has shape {}",
                                      given->shape().str(), out.shape().str()));
    return given->dtype() == out.dtype() ? *given : given->to(out.dtype());
  }
  if (out.numel() != 1)
    throw AutogradError(fmt::format("backward: the output has shape {} ({} elements); a gradient can be "
                                    "implied only for a scalar. Reduce it first (reduce_mean) or pass a "
                                    "gradient of shape {}",
                                    out.shape().str(), out.numel(), out.shape().str()));
  return ones(out.shape(), out.dtype());
}

// The replay shared by backward() and grad(). `capture` (optional) maps leaf impls to slots
// that receive their gradients instead of .grad().
struct Capture {
  std::vector<const TensorImpl*> leaves;   // inputs that are leaves
  std::vector<const Node*> nodes;                  // inputs that are computed: their record
  std::vector<std::size_t> outputs;                //   and which of its outputs they are
  std::vector<Tensor>* out;
};

// The gradient `g` of a leaf or of a record's output `output`, after the hooks registered on it.
void run_hooks(const std::shared_ptr<HookList>& hooks, std::size_t output, Tensor& g) {
  if (!hooks || !g.defined()) return;
  // A copy: a hook may register or remove hooks.
  const std::vector<HookList::Entry> entries = hooks->entries;
  for (const HookList::Entry& e : entries) {
    if (e.output != output) continue;
    Tensor replaced = e.fn(g);
    if (!replaced.defined()) continue;
    if (replaced.shape() != g.shape() || replaced.dtype() != g.dtype())
      throw AutogradError(fmt::format("a gradient hook returned a tensor {} {} for a gradient {} {}; return one of "
                                      "the gradient's shape and dtype, or an undefined tensor to keep it",
                                      replaced.shape().str(), dtype_name(replaced.dtype()), g.shape().str(),
                                      dtype_name(g.dtype())));
    g = std::move(replaced);
  }
}

// The record whose backward runs now: its name for SavedTensor's message, and in a create_graph
// pass the record itself (see saved_output).
thread_local const char* replaying = nullptr;
thread_local std::shared_ptr<Node> current_record;
struct Replaying {
  explicit Replaying(const char* name) : previous(replaying) { replaying = name; }
  ~Replaying() { replaying = previous; }
  const char* previous;
};
struct CurrentRecord {
  explicit CurrentRecord(std::shared_ptr<Node> n) : previous(std::move(current_record)) { current_record = std::move(n); }
  ~CurrentRecord() { current_record = std::move(previous); }
  std::shared_ptr<Node> previous;
};

void run_backward(std::span<const Tensor> outputs, std::span<const Tensor> grad_outputs, bool retain_graph,
                  bool create_graph, Capture* capture) {
  if (!grad_outputs.empty() && grad_outputs.size() != outputs.size())
    throw AutogradError(fmt::format("backward: {} outputs but {} gradients", outputs.size(), grad_outputs.size()));
  GradModeGuard mode(create_graph);  // a backward pass records only to be differentiated again
  std::uint64_t mark = next_visit.fetch_add(1);
  std::vector<Node*> order;
  std::vector<Node*> stack;
  // A create_graph pass hands each record, while its backward runs, to saved_output(): the owners
  // of the records, found along the edges.
  std::unordered_map<const Node*, std::shared_ptr<Node>> owners;
  bool any = false;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    if (!out.requires_grad())
      throw AutogradError(fmt::format("backward: the output {} does not require grad: nothing it was computed from "
                                      "requires grad (call requires_grad_() on the parameters), or it was "
                                      "computed under NoGradGuard, or from gradients that a backward pass "
                                      "without create_graph returned (to differentiate gradients again, take "
                                      "them with {{.create_graph = true}})",
                                      out.shape().str()));
    Tensor g = seed_gradient(out, grad_outputs.empty() ? nullptr : &grad_outputs[i]);
    any = true;
    if (!out.grad_fn()) {  // a leaf: its gradient is the seed
      run_hooks(out.impl()->hooks, 0, g);
      if (capture) {
        for (std::size_t k = 0; k < capture->leaves.size(); ++k)
          if (capture->leaves[k] == out.impl().get()) accumulate((*capture->out)[k], g);
      } else {
        accumulate_leaf(*out.impl(), Tensor(g), create_graph);
      }
      continue;
    }
    Node* root = out.grad_fn().get();
    if (create_graph) owners.emplace(root, out.grad_fn());
    accumulate(root->pending_grad(static_cast<std::size_t>(out.impl()->output_index)), g);
    if (root->visit_mark != mark) {
      root->visit_mark = mark;
      stack.push_back(root);
    }
  }
  (void)any;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    order.push_back(n);
    for (Edge& e : n->next())
      if (e.node && e.node->visit_mark != mark) {
        e.node->visit_mark = mark;
        if (create_graph) owners.emplace(e.node.get(), e.node);
        stack.push_back(e.node.get());
      }
  }
  std::sort(order.begin(), order.end(), [](const Node* a, const Node* b) { return a->sequence > b->sequence; });

  std::vector<Tensor> several;  // the gradients of a multi-output record's outputs
  // A leaf's gradient goes to grad()'s results, or into .grad().
  auto deliver_leaf = [&](TensorImpl* leaf, Tensor g) {
    if (capture) {
      for (std::size_t k = 0; k < capture->leaves.size(); ++k)
        if (capture->leaves[k] == leaf) accumulate((*capture->out)[k], g);
    } else {
      accumulate_leaf(*leaf, std::move(g), create_graph);
    }
  };
  // The gradients of leaves with hooks, summed over the pass (with their leaf, kept alive).
  std::unordered_map<TensorImpl*, std::pair<std::shared_ptr<TensorImpl>, Tensor>> hooked;
  for (Node* n : order) {
    const std::size_t no = n->num_outputs();
    Tensor one;  // the gradient of a single-output record (most records)
    if (no == 1) {
      one = std::move(n->pending_grad(0));
      run_hooks(n->hooks, 0, one);
      if (capture && one.defined())
        for (std::size_t k = 0; k < capture->nodes.size(); ++k)
          if (capture->nodes[k] == n) accumulate((*capture->out)[k], one);
      if (!one.defined()) continue;
    } else {
      several.assign(no, Tensor());
      bool arrived = false;
      for (std::size_t i = 0; i < no; ++i) {
        several[i] = std::move(n->pending_grad(i));
        run_hooks(n->hooks, i, several[i]);
        if (!several[i].defined()) continue;
        arrived = true;
        if (capture)
          for (std::size_t k = 0; k < capture->nodes.size(); ++k)
            if (capture->nodes[k] == n && capture->outputs[k] == i) accumulate((*capture->out)[k], several[i]);
      }
      if (!arrived) continue;
    }
    std::span<const Tensor> grads_in = no == 1 ? std::span<const Tensor>(&one, 1) : std::span<const Tensor>(several);
    if (n->released)
      throw AutogradError(fmt::format("backward through '{}' a second time: its saved tensors were released by "
                                      "the first backward(); pass {{.retain_graph = true}} to the first call",
                                      n->name));
    for (std::size_t i = 0; i < no; ++i)
      if (grads_in[i].defined()) check_grad_shape(n->name, n->output_shape(i), n->output_dtype(i), grads_in[i]);
    Grads grads;
    Replaying in(n->name);
    if (create_graph) {
      CurrentRecord current(owners.at(n));
      grads = n->apply(grads_in);
    } else {
      grads = n->apply(grads_in);
    }
    std::span<Edge> next = n->next();
    if (grads.size() != next.size())
      throw AutogradError(fmt::format("backward of '{}' returned {} gradients for {} inputs", n->name, grads.size(),
                                      next.size()));
    for (std::size_t i = 0; i < grads.size(); ++i) {
      Edge& e = next[i];
      if (!grads[i].defined()) continue;
      if (e.node) {
        accumulate(e.node->pending_grad(e.input_nr), grads[i]);
      } else if (e.leaf) {
        if (e.leaf->hooks && !e.leaf->hooks->entries.empty()) {
          // A hooked leaf's hooks see its whole gradient (as PyTorch's): summed here, delivered last.
          auto at = hooked.try_emplace(e.leaf.get(), e.leaf, Tensor()).first;
          accumulate(at->second.second, grads[i]);
        } else {
          deliver_leaf(e.leaf.get(), std::move(grads[i]));
        }
      }
    }
    if (!retain_graph) {
      n->release();
      n->released = true;
    }
  }
  for (auto& entry : hooked) {
    Tensor g = std::move(entry.second.second);
    run_hooks(entry.second.first->hooks, 0, g);
    deliver_leaf(entry.first, std::move(g));
  }
}

}  // namespace

void SavedTensor::throw_modified() const {
  const char* op = replaying ? replaying : "an op";
  throw AutogradError(fmt::format("backward of {}: one of the tensors needed for gradient computation has been "
                                  "modified by an in-place operation: a {} {} that {} saved at version {} is now at "
                                  "version {}. Change it in place after backward(), or give {} a copy (clone())",
                                  op, dtype_name(tensor_.dtype()), tensor_.shape().str(), op, version_,
                                  tensor_.impl()->storage->version, op));
}

Tensor saved_output(const SavedTensor& output, std::size_t index) {
  const Tensor& data = *output;
  if (!current_record || !grad_enabled || !data.defined()) return data;
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = data.impl()->storage;
  impl->shape = data.shape();
  impl->dtype = data.dtype();
  impl->grad_fn = current_record;
  impl->output_index = static_cast<int>(index);
  impl->requires_grad = true;
  return Tensor(std::move(impl));
}

void backward(std::span<const Tensor> outputs, std::span<const Tensor> grad_outputs, BackwardOptions options) {
  run_backward(outputs, grad_outputs, options.retain_graph || options.create_graph, options.create_graph, nullptr);
}

std::vector<Tensor> grad(std::span<const Tensor> outputs, std::span<const Tensor> inputs, GradOptions options) {
  const bool allow_unused = options.allow_unused;
  const std::span<const Tensor> grad_outputs(options.grad_outputs);
  std::vector<Tensor> result(inputs.size());
  Capture cap{{}, {}, {}, &result};
  cap.leaves.resize(inputs.size(), nullptr);
  cap.nodes.resize(inputs.size(), nullptr);
  cap.outputs.resize(inputs.size(), 0);
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& in = inputs[k];
    if (!in.requires_grad())
      throw AutogradError(fmt::format("grad: input {} of shape {} does not require grad", k, in.shape().str()));
    if (in.grad_fn()) {
      cap.nodes[k] = in.grad_fn().get();
      cap.outputs[k] = static_cast<std::size_t>(in.impl()->output_index);
    }
    else cap.leaves[k] = in.impl().get();
  }
  run_backward(outputs, grad_outputs, options.retain_graph.value_or(options.create_graph), options.create_graph, &cap);
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    if (result[k].defined()) continue;
    if (!allow_unused)
      throw AutogradError(fmt::format("grad: input {} of shape {} was not used to compute the outputs; pass "
                                      "{{.allow_unused = true}} to get a zero gradient",
                                      k, inputs[k].shape().str()));
    result[k] = zeros(inputs[k].shape(), inputs[k].dtype());
  }
  return result;
}

}  // namespace autograd

TensorImpl::~TensorImpl() {
  // Park the record instead of destroying it here: see Graveyard.
  bool outer = !autograd::graveyard.draining;
  autograd::bury(grad_fn);
  if (outer) autograd::drain();
}

}  // namespace tapeflow
