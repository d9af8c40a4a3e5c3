#pragma once
/// Graph-mode recurrent networks (tf.nn.rnn_cell and tf.nn.static_rnn): cells whose variables
/// come from get_variable, run step by step with the same fused ops as the eager modules of
/// tapeflow/nn/recurrent.h (LSTMStep, GRUStep).
///
///   rnn_cell::BasicLSTMCell cell(128);
///   Tensor x = placeholder(float32, {-1, 20, 64}, "x");           // [batch, time, features]
///   RnnOutput r = static_rnn(cell, x);                              // 20 outputs [?, 128]
///   Tensor logits = layers::fully_connected(r.outputs.back(), 10, "logits", {.activation_fn = nullptr});
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tapeflow/tensor.h"

namespace tapeflow {
namespace rnn_cell {

/// A cell's state: {c, h} for BasicLSTMCell (TensorFlow's LSTMStateTuple order), {h} for GRUCell.
using State = std::vector<Tensor>;

/// tf.nn.rnn_cell.RNNCell: one step, inputs [batch, features] and state -> output and new state.
/// The first call creates the cell's variables under variable scope name() (inside the caller's
/// scopes: static_rnn's "rnn"); later calls reuse them, as TensorFlow's cells do.
class RNNCell {
 public:
  virtual ~RNNCell() = default;
  virtual std::pair<Tensor, State> operator()(const Tensor& inputs, const State& state) = 0;
  /// The zero state for the batch of `inputs` [batch, features] (which may be unknown).
  virtual State zero_state(const Tensor& inputs) const = 0;
  std::int64_t num_units() const { return units_; }
  const std::string& name() const { return name_; }

 protected:
  RNNCell(std::int64_t num_units, std::string name);
  /// The input depth: known, or a ShapeError naming the cell.
  std::int64_t depth_of(const Tensor& inputs) const;
  /// Checks that `state` has `n` tensors [batch, num_units].
  void check_state(const State& state, std::size_t n) const;

  std::int64_t units_;
  std::string name_;
  std::int64_t depth_ = -1;  // the input depth the variables were built for (-1: not yet)
};

/// tf.nn.rnn_cell.BasicLSTMCell: variables "<scope>/basic_lstm_cell/kernel"
/// [depth + num_units, 4 * num_units] (glorot uniform) and ".../bias" [4 * num_units] (zeros);
/// gates i, j, f, o; forget_bias added to f. Output: h; state {c, h}.
class BasicLSTMCell : public RNNCell {
 public:
  explicit BasicLSTMCell(std::int64_t num_units, double forget_bias = 1.0, std::string name = "basic_lstm_cell");
  std::pair<Tensor, State> operator()(const Tensor& inputs, const State& state) override;
  State zero_state(const Tensor& inputs) const override;

 private:
  double forget_bias_;
  Tensor kernel_, bias_;
};

/// tf.nn.rnn_cell.GRUCell: variables ".../gru_cell/gates/kernel" [depth + num_units,
/// 2 * num_units], ".../gates/bias" (ones), ".../candidate/kernel" [depth + num_units, num_units],
/// ".../candidate/bias" (zeros). Output and state: h.
class GRUCell : public RNNCell {
 public:
  explicit GRUCell(std::int64_t num_units, std::string name = "gru_cell");
  std::pair<Tensor, State> operator()(const Tensor& inputs, const State& state) override;
  State zero_state(const Tensor& inputs) const override;

 private:
  Tensor gates_kernel_, gates_bias_, candidate_kernel_, candidate_bias_;
};

}  // namespace rnn_cell

/// What static_rnn returns: one output per step and the final state.
struct RnnOutput {
  std::vector<Tensor> outputs;
  rnn_cell::State state;
};

/// tf.nn.static_rnn: the cell unrolled over `inputs` (one [batch, features] tensor per step), from
/// `initial_state` (empty: zeros), under variable scope `scope`.
RnnOutput static_rnn(rnn_cell::RNNCell& cell, const std::vector<Tensor>& inputs,
                     const rnn_cell::State& initial_state = {}, const std::string& scope = "rnn");
/// The same over a [batch, time, features] tensor, unstacked along time, whose time dimension
/// must be known (a ShapeError says so otherwise).
RnnOutput static_rnn(rnn_cell::RNNCell& cell, const Tensor& inputs, const rnn_cell::State& initial_state = {},
                     const std::string& scope = "rnn");

}  // namespace tapeflow
