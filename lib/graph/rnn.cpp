// Graph-mode recurrent cells and static_rnn: variables from get_variable, steps from the fused
// ops of lib/nn/recurrent.cpp.
#include "tapeflow/graph/rnn.h"

#include <fmt/format.h>

#include "autograd/door.h"
#include "tapeflow/graph/graph.h"
#include "tapeflow/graph/variables.h"
#include "tapeflow/nn/linear.h"
#include "tapeflow/nn/recurrent.h"
#include "tapeflow/ops/array.h"

namespace tapeflow {
namespace rnn_cell {

namespace {

/// Zeros [batch of `like`, units] (TensorFlow's zero_state: tf.zeros of the dynamic batch size),
/// a "Fill" node in graph mode.
Tensor zeros_for_batch(const Tensor& like, std::int64_t units, DType dtype) {
  return autograd::apply(
      {.type = "Fill", .name = "zero_state", .t = autograd::DTypes::Any, .signature = "a", .node = "zeros"}, {like},
      {{"units", units}},
      [units, dtype](autograd::Args in) { return OutputSpec{Shape{in[0].dim(0), units}, dtype}; },
      [](autograd::Args, const OutputSpec& s) { return zeros(s.shape, s.dtype); });
}

/// Rows [begin, begin + count) of a kernel.
Tensor rows_of(const Tensor& w, std::int64_t begin, std::int64_t count) { return slice(w, {begin, 0}, {count, -1}); }

}  // namespace

RNNCell::RNNCell(std::int64_t num_units, std::string name) : units_(num_units), name_(std::move(name)) {
  if (units_ <= 0) throw ValueError(fmt::format("{}: num_units must be positive, got {}", name_, units_));
}

std::int64_t RNNCell::depth_of(const Tensor& inputs) const {
  const Shape& s = inputs.shape();
  if (s.rank() != 2 || s[1] == Shape::kUnknown)
    throw ShapeError(fmt::format("{}: inputs must be [batch, features] with the features known, got {}", name_,
                                 s.str()));
  if (depth_ >= 0 && s[1] != depth_)
    throw ShapeError(fmt::format("{}: inputs have {} features but the cell's variables were built for {}", name_,
                                 s[1], depth_));
  return s[1];
}

void RNNCell::check_state(const State& state, std::size_t n) const {
  if (state.size() != n)
    throw ValueError(fmt::format("{}: the state has {} tensors; this cell's has {}", name_, state.size(), n));
  for (const Tensor& t : state)
    if (!t.defined() || t.rank() != 2 || (t.dim(1) != units_ && t.dim(1) != Shape::kUnknown))
      throw ShapeError(fmt::format("{}: each state tensor must be [batch, {}], got {}", name_, units_,
                                   t.defined() ? t.shape().str() : std::string("an undefined tensor")));
}

BasicLSTMCell::BasicLSTMCell(std::int64_t num_units, double forget_bias, std::string name)
    : RNNCell(num_units, std::move(name)), forget_bias_(forget_bias) {}

State BasicLSTMCell::zero_state(const Tensor& inputs) const {
  return {zeros_for_batch(inputs, units_, inputs.dtype()), zeros_for_batch(inputs, units_, inputs.dtype())};
}

std::pair<Tensor, State> BasicLSTMCell::operator()(const Tensor& inputs, const State& state) {
  const std::int64_t depth = depth_of(inputs);
  check_state(state, 2);
  {
    variable_scope scope(name_, {.reuse = depth_ >= 0});
    kernel_ = get_variable("kernel", {depth + units_, 4 * units_}, {.dtype = inputs.dtype()});
    bias_ = get_variable("bias", {4 * units_}, {.dtype = inputs.dtype(), .initializer = zeros_initializer()});
    depth_ = depth;
    const Tensor x_proj = nn::xw_plus_b(inputs, rows_of(kernel_, 0, depth), bias_);
    const nn::LSTMState next = nn::lstm_step(x_proj, {state[1], state[0]}, rows_of(kernel_, depth, units_), forget_bias_);
    return {next.h, {next.c, next.h}};
  }
}

GRUCell::GRUCell(std::int64_t num_units, std::string name) : RNNCell(num_units, std::move(name)) {}

State GRUCell::zero_state(const Tensor& inputs) const { return {zeros_for_batch(inputs, units_, inputs.dtype())}; }

std::pair<Tensor, State> GRUCell::operator()(const Tensor& inputs, const State& state) {
  const std::int64_t depth = depth_of(inputs);
  check_state(state, 1);
  variable_scope scope(name_, {.reuse = depth_ >= 0});
  {
    variable_scope gates("gates", {.reuse = depth_ >= 0});
    gates_kernel_ = get_variable("kernel", {depth + units_, 2 * units_}, {.dtype = inputs.dtype()});
    gates_bias_ = get_variable("bias", {2 * units_}, {.dtype = inputs.dtype(), .initializer = ones_initializer()});
  }
  {
    variable_scope candidate("candidate", {.reuse = depth_ >= 0});
    candidate_kernel_ = get_variable("kernel", {depth + units_, units_}, {.dtype = inputs.dtype()});
    candidate_bias_ = get_variable("bias", {units_}, {.dtype = inputs.dtype(), .initializer = zeros_initializer()});
  }
  depth_ = depth;
  const Tensor h = nn::gru_step(nn::xw_plus_b(inputs, rows_of(gates_kernel_, 0, depth), gates_bias_),
                                nn::xw_plus_b(inputs, rows_of(candidate_kernel_, 0, depth), candidate_bias_), state[0],
                                rows_of(gates_kernel_, depth, units_), rows_of(candidate_kernel_, depth, units_));
  return {h, {h}};
}

}  // namespace rnn_cell

RnnOutput static_rnn(rnn_cell::RNNCell& cell, const std::vector<Tensor>& inputs, const rnn_cell::State& initial_state,
                     const std::string& scope) {
  if (inputs.empty()) throw ValueError(fmt::format("static_rnn: no inputs (one [batch, features] tensor per step)"));
  variable_scope outer(scope);
  RnnOutput result;
  result.state = initial_state.empty() ? cell.zero_state(inputs[0]) : initial_state;
  for (const Tensor& x : inputs) {
    auto [output, state] = cell(x, result.state);
    result.outputs.push_back(output);
    result.state = std::move(state);
  }
  return result;
}

RnnOutput static_rnn(rnn_cell::RNNCell& cell, const Tensor& inputs, const rnn_cell::State& initial_state,
                     const std::string& scope) {
  const Shape& s = inputs.shape();
  if (s.rank() != 3 || s[1] == Shape::kUnknown || s[2] == Shape::kUnknown)
    throw ShapeError(fmt::format("static_rnn: inputs must be [batch, time, features] with the time and features "
                                 "known (the network is unrolled over the time steps when it is built), got {}; "
                                 "give the placeholder its number of steps, e.g. placeholder(float32, {{-1, 20, {}}})",
                                 s.str(), s[2] == Shape::kUnknown ? std::string("features") : std::to_string(s[2])));
  std::vector<Tensor> steps = split(inputs, static_cast<int>(s[1]), 1);
  for (Tensor& t : steps) t = reshape(t, Shape{-1, s[2]});
  return static_rnn(cell, steps, initial_state, scope);
}

}  // namespace tapeflow
