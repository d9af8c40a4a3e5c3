#pragma once
// Internal: the graph side of the dispatcher. Every op starts with its shape rule, then
//
//   if (detail::any_symbolic(a, b))
//     return detail::graph_op("MatMul", {a, b}, shape, a.dtype(),
//                             [ta, tb](Args in) { return matmul(in[0], in[1], ta, tb); });
//
// and only then runs its forward kernel. The replay closure calls the op itself with the
// concrete inputs of a Session::run, so graph mode has no kernels or gradients of its own.
#include <functional>
#include <initializer_list>
#include <string>
#include <span>
#include <vector>

#include "tapeflow/tensor.h"

namespace tapeflow::graph { struct OutputSpec; }

namespace tapeflow::detail {

inline bool is_symbolic(const Tensor& t) { return t.defined() && t.impl()->node != nullptr; }
inline bool is_symbolic(const std::vector<Tensor>& ts) {
  for (const Tensor& t : ts)
    if (is_symbolic(t)) return true;
  return false;
}
/// True when one of the inputs is a graph tensor: the op then adds a node instead of computing.
template <class... Ts>
bool any_symbolic(const Ts&... inputs) {
  return (is_symbolic(inputs) || ...);
}

using Args = std::span<const Tensor>;
using Replay = std::function<Tensor(Args inputs)>;
using ReplayN = std::function<std::vector<Tensor>(Args inputs)>;

/// Adds a node of op type `type` with one output of static `shape` and `dtype` to the graph of
/// the symbolic inputs (eager inputs become Const nodes; undefined ones stay absent) and
/// returns that output. `replay` computes the output from concrete inputs at Session::run.
Tensor graph_op(const char* type, std::vector<Tensor> inputs, const Shape& shape, DType dtype, Replay replay);
/// Same with several outputs.
std::vector<Tensor> graph_op(const char* type, std::vector<Tensor> inputs, std::vector<graph::OutputSpec> outputs,
                             ReplayN replay);

/// Where a graph-mode op failed its shape or dtype rule: "while building node 'hidden1/MatMul'
/// (MatMul) from 'images:0' [?,784], 'hidden1/weights:0' [100,10]"; empty when no input is a
/// graph tensor.
std::string node_hint(const char* type, std::initializer_list<const Tensor*> inputs);

/// Runs an op's shape rule; in graph mode, a ShapeError or DTypeError it throws also names the
/// node being built and every input (TensorFlow names the node in its build-time errors).
template <class F>
auto build_checked(const char* type, std::initializer_list<const Tensor*> inputs, F&& rule) -> decltype(rule()) {
  try {
    return rule();
  } catch (const ShapeError& e) {
    std::string hint = node_hint(type, inputs);
    if (hint.empty()) throw;
    throw ShapeError(std::string(e.what()) + hint);
  } catch (const DTypeError& e) {
    std::string hint = node_hint(type, inputs);
    if (hint.empty()) throw;
    throw DTypeError(std::string(e.what()) + hint);
  }
}

}  // namespace tapeflow::detail
